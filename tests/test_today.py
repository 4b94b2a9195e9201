"""Issue 14 from the client's side: models found at run time, reasoning models first-class, every current
field reachable, cost and cached tokens, rate limits. All over real HTTP to the fake server."""
import json

import pytest

import cerebras_magic as cm
from cerebras_magic.core import Ask, Session
from tests.conftest import run


def posts(srv):
    return [r for r in srv.requests if r.method == "POST"]


@pytest.fixture
def bare(fake_server):
    """A session with no model configured: the model comes from the server's live list."""
    s = Session(history_path=None, api_key="test-key", base_url=fake_server.base_url)
    yield s
    s.close()


# -- models ----------------------------------------------------------------------------------------------

def test_the_default_model_comes_from_the_live_list(bare, fake_server):
    r = bare.run(Ask("hello", params={"max_tokens": 200}))
    ids = [m["id"] for m in fake_server.models and [{"id": m} for m in fake_server.models]]
    assert r.model == "gpt-oss-120b" and r.model in ids and r.model_source == "the server's default"
    from cerebras_magic.display import final_bundle
    assert "(the server's default)" in final_bundle(r)["text/plain"]
    assert bare.history.rows()[-1]["model_source"] == "the server's default"
    fake_server.models = ["llama-3.3-70b", "qwen-3.8-27b"]  # another server, another list: asked once per session
    other = Session(history_path=None, api_key="test-key", base_url=fake_server.base_url)
    assert other.run(Ask("hello")).model == "llama-3.3-70b"
    gets = [q for q in fake_server.requests if q.path == "/v1/models"]
    other.run(Ask("again"))
    assert len([q for q in fake_server.requests if q.path == "/v1/models"]) == len(gets)  # cached


def test_deprecated_models_are_not_chosen_by_default(bare, fake_server):
    fake_server.models = ["llama3.1-8b", "qwen-3-32b", "llama-3.3-70b"]  # the first two are retired
    assert bare.run(Ask("hello")).model == "llama-3.3-70b"


def test_an_unknown_model_lists_what_the_server_offers(shell, fake_server, capsys):
    n = len(posts(fake_server))
    run(shell, "%%cerebras -m gpt-oss-12b\nhello")
    text = "".join(capsys.readouterr())
    assert "-m/--model 'gpt-oss-12b' is not offered by" in text and "it offers: gpt-oss-120b," in text
    assert len(posts(fake_server)) == n and cm.history().iloc[-1]["status"] == "error"
    with pytest.raises(cm.ParameterError, match="model 'nope' is not offered"):
        cm.chat("hello", model="nope")


def test_an_unknown_model_on_the_local_backend_is_an_error_too():
    from cerebras_magic import local
    if not local.available():
        pytest.skip("the local model is not installed")
    s = Session(history_path=None, backend="local")
    with pytest.raises(cm.ParameterError, match="'gpt-oss-120b' is not offered by the local backend; it offers: "
                                                 "smollm2-135m-instruct"):
        s.run(Ask("hello", params={"model": "gpt-oss-120b", "max_tokens": 2}))
    assert s.run(Ask("hello", params={"max_tokens": 2})).model == local.MODEL_ID


def test_models_table_adds_the_public_catalogue(shell, fake_server):
    import datetime
    res, _ = run(shell, "%cerebras models")
    df = res.result
    assert {"name", "context", "max_completion", "usd_per_m_prompt", "usd_per_m_completion", "capabilities",
            "deprecated", "preview"} <= set(df.columns)
    assert isinstance(df.loc["gpt-oss-120b", "created"], datetime.date)
    assert df.loc["gpt-oss-120b", "usd_per_m_prompt"] == pytest.approx(0.35)
    assert bool(df.loc["llama3.1-8b", "deprecated"]) is True and "reasoning" in df.loc["gpt-oss-120b", "capabilities"]


def test_models_table_without_a_catalogue_is_the_plain_list(shell, session, fake_server):
    fake_server.fault("status:404;all", times=1)  # no public catalogue here (an OpenAI-compatible server)
    assert session.catalog.public(session.client()) == {}
    res, _ = run(shell, "%cerebras models")
    assert list(res.result.columns) == ["created", "owned_by"] and "gpt-oss-120b" in res.result.index


# -- reasoning -------------------------------------------------------------------------------------------

def test_gpt_oss_reasoning_streams_then_collapses_and_is_stored(shell, fake_server):
    res, msgs = run(shell, "%%cerebras -m gpt-oss-120b --max-tokens 400 --reasoning-effort low\nWhy?")
    r = res.result
    assert r.reasoning and r.text and posts(fake_server)[-1].json["reasoning_effort"] == "low"
    live = [m["data"]["text/plain"] for m in msgs if m.get("update")]
    assert any(v.startswith("Reasoning…") for v in live)  # shown while the model thinks
    html = msgs[-1]["data"]["text/html"]
    assert html.index('<details class="cm-reasoning">') < html.index('class="cm-foot"')
    assert f"reasoning ({r.reasoning_tokens:,} tokens)" in html and "reasoning" in msgs[-1]["data"]["text/plain"]
    row = cm.history().iloc[-1]
    assert row["reasoning"] == r.reasoning and row["reasoning_tokens"] == r.reasoning_tokens


def test_raw_think_blocks_are_split_out_of_the_answer(shell, fake_server):
    res, msgs = run(shell, "%%cerebras -m qwen-3.8-27b --max-tokens 400\nWhy?")
    r = res.result
    assert r.reasoning and "<think>" not in r.text and "</think>" not in r.text
    streamed = "".join(m["data"]["text/plain"] for m in msgs[-1:])
    assert "<think>" not in streamed
    sent = posts(fake_server)[-1].json
    assert "reasoning_format" not in sent  # Qwen's default, raw, puts it in the content: we split it
    again = cm.chat("Why?", model="qwen-3.8-27b", max_tokens=400, stream=False)
    assert again.reasoning == r.reasoning and again.text == r.text


def test_a_chat_sends_earlier_reasoning_back_as_reasoning(shell, fake_server):
    run(shell, "%%cerebras --chat -m gpt-oss-120b --max-tokens 300\nFirst question")
    first = shell.user_ns["_"]
    run(shell, "%%cerebras --chat -m gpt-oss-120b --max-tokens 300\nSecond question")
    turn = posts(fake_server)[-1].json["messages"][1]
    assert turn == {"role": "assistant", "content": first.text, "reasoning": first.reasoning}
    assert "reasoning_content" not in json.dumps(posts(fake_server)[-1].json)


def test_an_answer_with_only_reasoning_says_so(shell, fake_server):
    res, msgs = run(shell, "%%cerebras -m gpt-oss-120b --max-tokens 5 --reasoning-effort high\nThink hard")
    r = res.result
    assert r.text == "" and r.reasoning and r.finish_reason == "length"
    assert "The model reasoned but gave no answer (cut at max tokens)" in msgs[-1]["data"]["text/plain"]


def test_reasoning_effort_values_and_one_line_for_a_bad_one(shell, fake_server, capsys):
    run(shell, "%%cerebras -m gpt-oss-120b --reasoning-effort none --max-tokens 50\nquick")
    assert posts(fake_server)[-1].json["reasoning_effort"] == "none" and not shell.user_ns["_"].reasoning
    run(shell, "%%cerebras --reasoning-effort extreme\nhi")
    text = "".join(capsys.readouterr())
    assert "--reasoning-effort must be one of none, low, medium, high (got 'extreme')" in text


# -- every other field -----------------------------------------------------------------------------------

def test_param_and_extra_body_reach_the_wire(shell, fake_server):
    run(shell, "%%cerebras --param 'service_tier=\"flex\"' --param parallel_tool_calls=false --param n=1\nhi")
    sent = posts(fake_server)[-1].json
    assert sent["service_tier"] == "flex" and sent["parallel_tool_calls"] is False and sent["n"] == 1
    cm.chat("hi", extra_body={"prompt_cache_key": "k1"}, stream_options={"include_usage": True})
    sent = posts(fake_server)[-1].json
    assert sent["prompt_cache_key"] == "k1" and sent["stream_options"] == {"include_usage": True}


def test_a_typed_field_keeps_its_check_through_param(shell, fake_server, capsys):
    n = len(posts(fake_server))
    run(shell, "%%cerebras --param 'service_tier=\"fastest\"'\nhi")
    assert "service_tier" in "".join(capsys.readouterr()) and len(posts(fake_server)) == n


def test_predicted_output_and_its_figures(shell, fake_server):
    shell.user_ns["draft"] = "def add(a, b):\n    return a + b\n"
    res, msgs = run(shell, "%%cerebras --predict draft\nRename add to plus")
    assert posts(fake_server)[-1].json["prediction"] == {"type": "content", "content": shell.user_ns["draft"]}
    accepted, rejected = res.result.prediction_tokens
    assert accepted is not None and rejected is not None  # the fake server counts them, as Cerebras does
    assert f"prediction: {accepted:,} accepted, {rejected:,} rejected" in msgs[-1]["data"]["text/plain"]


def test_image_parts_go_through(session, fake_server):
    parts = [{"type": "text", "text": "What is in this picture?"},
             {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]
    r = cm.chat([{"role": "user", "content": parts}], model="gemma-4-31b", max_tokens=20)
    assert r.status == "ok" and posts(fake_server)[-1].json["messages"][0]["content"] == parts


def test_cost_and_cached_tokens_in_the_footer_and_history(shell, fake_server):
    long = "You are a careful assistant. " * 60
    run(shell, f"%%cerebras --chat -s '{long}'\nFirst")
    res, msgs = run(shell, "%%cerebras --chat\nSecond")
    r = res.result
    assert r.cached_tokens and r.cached_tokens > 0
    foot = msgs[-1]["data"]["text/plain"].rsplit("── ", 1)[-1]
    assert f"({r.cached_tokens:,} cached)" in foot and f"${r.cost_usd:,.6f}" in foot
    prices = {m["id"]: m for m in cm.Client(api_key="test-key", base_url=fake_server.base_url).public_models()
              and [q.model_dump() for q in cm.Client(api_key="test-key", base_url=fake_server.base_url).public_models()]}
    p = prices[r.model]["pricing"]
    expected = ((r.usage.prompt_tokens - r.cached_tokens) * float(p["prompt"]) + r.cached_tokens *
                float(p.get("input_cache_read") or p["prompt"]) + r.usage.completion_tokens * float(p["completion"]))
    assert r.cost_usd == pytest.approx(expected)
    row = cm.history().iloc[-1]
    assert row["cached_tokens"] == r.cached_tokens and row["cost_usd"] == pytest.approx(r.cost_usd)


def test_cost_is_empty_when_prices_are_unknown(session, fake_server):
    fake_server.fault("status:404;all", times=1)  # no catalogue: no prices, no guess
    assert session.catalog.public(session.client()) == {}
    r = cm.chat("hi", max_tokens=5)
    assert r.cost_usd is None and cm.history().iloc[-1]["cost_usd"] != cm.history().iloc[-1]["cost_usd"]


def test_dry_run_estimates_tokens_charge_and_cost(shell, fake_server):
    res, msgs = run(shell, "%%cerebras --dry-run --max-tokens 100\nHow many tokens is this prompt?")
    text = msgs[-1]["data"]["text/plain"]
    assert "estimate: ≈" in text and "at most 100 completion tokens" in text
    assert "rate-limit charge ≈" in text and "(prompt + max tokens, charged up front)" in text and "at most $" in text


def test_limits_show_every_bucket_of_the_latest_answer(shell, fake_server, capsys):
    run(shell, "%cerebras limits")
    assert "no answer from" in "".join(capsys.readouterr())
    run(shell, "%%cerebras\nhi")
    res, _ = run(shell, "%cerebras limits")
    df = res.result
    assert "requests day" in df.index and any("tokens" in b for b in df.index)
    assert df["remaining"].notna().all() and "resets_at" in df.columns


def test_a_parameter_the_catalogue_rules_out_is_one_line(shell, fake_server, capsys):
    n = len(posts(fake_server))
    run(shell, "%%cerebras -m llama-3.3-70b --param repetition_penalty=1.1\nhi")  # the catalogue says False
    assert "repetition_penalty is not supported by llama-3.3-70b (its catalogue entry says so)" in \
        "".join(capsys.readouterr())
    assert len(posts(fake_server)) == n


@pytest.mark.parametrize("model", ["gpt-oss-120b", "qwen-3.8-27b"])
@pytest.mark.parametrize("stream", [True, False])
def test_reasoning_logprobs_given_with_the_answers_are_split_off(session, fake_server, model, stream):
    """text_parsed (gpt-oss) and raw (Qwen) put the reasoning's logprobs ahead of the answer's in `logprobs`:
    they become the reasoning's own heat-map section, and the answer's heat-map holds the answer."""
    from cerebras_magic.display import logprobs_html
    from cerebras_magic.display._tokens import pieces
    r = cm.chat("why", model=model, logprobs=2, max_tokens=120, stream=stream)
    assert r.reasoning and r.reasoning_logprobs
    assert "".join(p.text for p in pieces(r.token_logprobs)) == r.text
    html = logprobs_html(r)
    assert "reasoning tokens" in html and html.index("answer tokens") < html.index("reasoning tokens")
