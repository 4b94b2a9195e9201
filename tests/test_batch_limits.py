"""The batch scheduler and the rate limits: the limiter on its own (a fake clock), then over real HTTP to a
fake server that enforces its buckets with real 429s."""
import time

import httpx
import pytest

import cerebras_magic as cm
from cerebras_magic.core import Session
from cerebras_magic.core._limits import Limiter
from cerebras_magic.testing import FakeServer

KEY = "test-key"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def headers(**buckets):
    """x-ratelimit-* headers: name=(limit, remaining)."""
    out = {}
    for name, (limit, remaining) in buckets.items():
        dashed = name.replace("_", "-")
        out.update({f"x-ratelimit-limit-{dashed}": str(limit), f"x-ratelimit-remaining-{dashed}": str(remaining),
                    f"x-ratelimit-reset-{dashed}": "1.0"})
    return httpx.Headers(out)


def test_buckets_come_from_the_headers_and_refill_with_the_clock():
    clock = Clock()
    lim = Limiter(clock=clock)
    assert lim.delay(100) == (0, None) and not lim.known  # nothing known: nothing held back
    lim.observe(200, headers(requests_minute=(60, 2), tokens_minute=(6000, 6000)))
    assert lim.known and set(lim.buckets) == {"requests_minute", "tokens_minute"}
    lim.take(10)
    lim.take(10)
    wait, why = lim.delay(10)
    assert why == "requests_minute" and wait == pytest.approx(1.0)  # 60 a minute: one a second
    clock.now += 1.0
    assert lim.delay(10)[0] == pytest.approx(0.0)


def test_the_charge_is_prompt_plus_max_tokens_against_the_token_bucket():
    clock = Clock()
    lim = Limiter(clock=clock)
    lim.observe(200, headers(tokens_minute=(600, 100)))  # 10 tokens a second, 100 left
    lim.take(90)
    wait, why = lim.delay(50)
    assert why == "tokens_minute" and wait == pytest.approx(4.0)  # 10 left, 40 more at 10/s


def test_a_later_response_corrects_the_estimate_both_ways():
    clock = Clock()
    lim = Limiter(clock=clock)
    mark = lim.take(0)  # the first request, sent before anything was known
    lim.observe(200, headers(tokens_minute=(6000, 5000)), mark)
    first = lim.take(100)   # we think 4,900 are left
    second = lim.take(100)  # and now 4,800
    lim.observe(200, headers(tokens_minute=(6000, 4000)), first)  # the server says fewer: believed
    assert lim.buckets["tokens_minute"].level == pytest.approx(4000)
    third = lim.take(300)   # 3,700 by our count
    # more than we thought: raised, but only to what it says minus all that is still in flight (second and
    # third: the server may not have counted them yet, whatever order they were sent in)
    lim.observe(200, headers(tokens_minute=(6000, 5000)), third)
    assert lim.buckets["tokens_minute"].level == pytest.approx(4900)
    lim.settle(second)
    assert lim.flying == {"requests": 0, "tokens": 0}


def test_a_429_pauses_every_request_for_its_retry_after():
    clock = Clock()
    lim = Limiter(clock=clock)
    lim.observe(429, httpx.Headers({"retry-after": "3", "retry-after-ms": "2500"}))
    assert lim.delay(1) == (pytest.approx(2.5), "429 Retry-After") and lim.rate_limited == 1
    clock.now += 2.5
    assert lim.delay(1)[0] == 0


def test_overrides_start_even_and_shares_divide():
    clock = Clock()
    lim = Limiter(rpm=120, tpm=None, share=0.5, clock=clock)  # one of two workers: 60 a minute
    assert lim.delay(1)[0] == 0
    lim.take(1)
    assert lim.delay(1)[0] == pytest.approx(1.0)  # one second's worth at the start, no burst of 60
    lim2 = Limiter(share=0.25, clock=clock)
    lim2.observe(200, headers(requests_minute=(1200, 1200)))
    assert lim2.buckets["requests_minute"].capacity == 300


def _drain(srv, tokens: int):
    """Spend the server's token bucket with one big request (its charge is prompt + max tokens)."""
    r = httpx.post(srv.base_url + "/v1/chat/completions", headers={"Authorization": f"Bearer {KEY}"},
                   json={"model": "llama-3.3-70b", "messages": [{"role": "user", "content": "x"}],
                         "max_completion_tokens": tokens})
    assert r.status_code == 200


@pytest.fixture
def limited(tmp_path, monkeypatch):
    """A fake server allowing 3,000 tokens a minute (50 a second), its bucket spent; a session on it."""
    monkeypatch.setenv("CEREBRAS_API_KEY", KEY)
    with FakeServer(api_key=KEY, tokens_per_second=None, ttft=0, tokens_per_minute=3000) as srv:
        _drain(srv, 2990)
        s = Session(history_path=str(tmp_path / "h.sqlite"), base_url=srv.base_url, model="llama-3.3-70b")
        yield srv, s
        s.close()


def test_the_batch_keeps_under_the_token_limit_without_429s(limited):
    srv, s = limited
    t0 = time.monotonic()
    out = cm.batch([f"w{i}" for i in range(12)], "Say {}", max_tokens=8, concurrency=8, session=s, progress=False)
    took = time.monotonic() - t0
    assert (out.status == "ok").all()
    charge = out.prompt_tokens.mean() + 8  # what each row cost against the bucket
    assert took >= 0.8 * (12 * charge - 60) / 50  # about the bucket's refill rate, not faster
    statuses = [r for r in srv.requests if r.path.endswith("/completions")]
    assert len(statuses) - 1 <= 12 + 1 and out.attrs["batch"]["rate_limited"] <= 1  # (the drain was one)


def test_without_the_limiter_the_same_batch_meets_429s(limited, monkeypatch):
    """The check above can fail: with the scheduler's delays off, the server refuses most requests."""
    srv, s = limited
    monkeypatch.setattr(Limiter, "delay", lambda self, tokens: (0.0, None))
    out = cm.batch([f"w{i}" for i in range(12)], "Say {}", max_tokens=8, concurrency=8, session=s, progress=False)
    assert out.attrs["batch"]["rate_limited"] >= 5


def test_a_429_slows_the_whole_batch_and_the_row_is_retried(session, fake_server):
    fake_server.fault("status:429;retry-after-ms=600", times=1)
    out = cm.batch([f"q{i}" for i in range(8)], "Say {}", max_tokens=3, concurrency=4, progress=False)
    assert (out.status == "ok").all() and out.attrs["batch"]["rate_limited"] == 1
    times = sorted(r.time for r in fake_server.requests if r.path.endswith("/completions"))
    refused = times[0]
    assert all(t < refused + 0.05 or t >= refused + 0.55 for t in times)  # nothing new went during the pause
    assert sum(t >= refused + 0.55 for t in times) >= 5  # the retry and the rows after it waited


def test_a_row_is_not_lost_to_a_few_429s(session, fake_server):
    """The client's own retries spent (3 tries), the engine sends the row again after the batch's pause."""
    fake_server.fault("status:429;retry-after-ms=50", times=3)
    out = cm.batch([f"q{i}" for i in range(4)], "Say {}", max_tokens=3, concurrency=1, progress=False)
    assert (out.status == "ok").all() and out.attrs["batch"]["rate_limited"] == 3  # each 429 counted once
    assert [r["status"] for r in session.history.rows()].count("error") == 1  # the spent call is still a row


def test_after_all_its_retries_a_row_fails_and_the_rest_go_on(session, fake_server):
    fake_server.fault("status:429;retry-after-ms=50", times=9)  # 3 sends of the row, each with the client's 3 tries
    out = cm.batch([f"q{i}" for i in range(4)], "Say {}", max_tokens=3, concurrency=1, progress=False)
    assert out.status.tolist() == ["error", "ok", "ok", "ok"]
    assert out.error[0].startswith("RateLimitError")


def test_rpm_caps_a_server_that_sends_no_headers(session, fake_server, monkeypatch):
    from cerebras_magic.testing import ratelimit
    monkeypatch.setattr(ratelimit.RateLimits, "headers", lambda self: {})  # a server with no x-ratelimit-*
    t0 = time.monotonic()
    out = cm.batch([f"q{i}" for i in range(9)], "Say {}", max_tokens=3, rpm=240, progress=False)  # 4 a second
    assert (out.status == "ok").all() and time.monotonic() - t0 >= 1.0  # 4 at once (a second's worth), then 4/s
    assert "x-ratelimit-limit-tokens-minute" not in fake_server.requests[-1].headers
