"""Forking an answer at a token (Result.fork), over real HTTP to the fake server and on the local model:
completions continue prompt + prefix + alternative; chat on Cerebras goes to /v1/completions in the model's
chat template (the API documents no way to continue an assistant message), or says in one line that the
model cannot fork; via="chat" sends the partial assistant message to a server that continues it; the local
backend continues it inside its chat template. The branch is a history row pointing to its parent."""
import pytest

import cerebras_magic as cm
from cerebras_magic import _errors as E
from cerebras_magic.core import Session
from cerebras_magic.local import available as local_available
from cerebras_magic.notebook._forkview import ForkView, fork_pieces


def _alt(r, position):
    """An alternative of the token at `position` that is not the chosen one and is a whole character."""
    e = r.token_logprobs[position]
    return next(t for t, _ in e["top"] if t != e["token"] and not t.startswith("bytes:"))


def _whole(r):
    """A position whose token is whole text (not a piece of a character)."""
    return next(i for i, e in enumerate(r.token_logprobs) if i >= 2 and not e["token"].startswith("bytes:")
                and e["token"].strip())


def _completion_requests(srv):
    return [r for r in srv.requests if r.path.endswith("completions")]


def test_fork_a_completion(session, fake_server):
    r = cm.complete("Once upon a time", logprobs=3, max_tokens=30, seed=1)
    k = _whole(r)
    alt = _alt(r, k)
    b = r.fork(k, alt)
    sent = _completion_requests(fake_server)[-1]
    prefix = "".join(e["token"] for e in r.token_logprobs[:k])
    assert sent.path == "/v1/completions" and sent.json["prompt"] == "Once upon a time" + prefix + alt
    assert sent.json["max_tokens"] == 30 - k - 1  # the branch keeps the original's length budget
    assert b.text.startswith(prefix + alt) and len(b.text) > len(prefix + alt)
    assert b.parent_id == r.id and b.fork_at == k and b.status == "ok"
    assert [e["token"] for e in b.token_logprobs[:k + 1]] == [e["token"] for e in r.token_logprobs[:k]] + [alt]
    row = cm.history().iloc[-1]
    assert row["parent_id"] == r.id and row["fork_at"] == k and row["source"] == "fork"


def test_fork_chat_on_cerebras_uses_completions_with_the_chat_template(session, fake_server):
    r = cm.chat("Explain a B-tree", model="llama-3.3-70b", system="Be brief.", logprobs=3, max_tokens=30, seed=2)
    k = _whole(r)
    b = r.fork(k, _alt(r, k))
    sent = _completion_requests(fake_server)[-1]
    assert sent.path == "/v1/completions"
    assert sent.json["prompt"].startswith("<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                                          "<|start_header_id|>user<|end_header_id|>\n\nExplain a B-tree<|eot_id|>"
                                          "<|start_header_id|>assistant<|end_header_id|>\n\n")
    assert "messages" not in sent.json and sent.json["logprobs"] == 3 and sent.json["model"] == "llama-3.3-70b"
    assert b.status == "ok" and b.parent_id == r.id and b.text.startswith(r.text[:3])
    q = cm.chat("hi", model="qwen-3.8-27b", logprobs=2, max_tokens=30, reasoning_effort="none")
    q.fork(_whole(q), _alt(q, _whole(q)))
    assert _completion_requests(fake_server)[-1].json["prompt"].startswith("<|im_start|>user\nhi<|im_end|>\n"
                                                                            "<|im_start|>assistant\n<think>\n\n</think>")


def test_a_model_without_a_known_template_says_so_in_one_line(session, fake_server):
    r = cm.chat("hi", model="gemma-4-31b", logprobs=2, max_tokens=20)
    n = len(fake_server.requests)
    with pytest.raises(E.ParameterError) as err:
        r.fork(3, _alt(r, 3))
    line = str(err.value)
    assert "gemma-4-31b cannot fork" in line and "\n" not in line and len(fake_server.requests) == n


def test_via_chat_continues_the_partial_assistant_message(session, fake_server):
    r = cm.chat("Tell me about wafers", model="llama-3.3-70b", logprobs=3, max_tokens=40, seed=3)
    k = _whole(r)
    same = r.fork(k, r.token_logprobs[k]["token"], via="chat")
    sent = _completion_requests(fake_server)[-1].json
    prefix = "".join(e["token"] for e in r.token_logprobs[:k + 1])
    assert sent["messages"][-1] == {"role": "assistant", "content": prefix}
    assert sent["messages"][-2] == {"role": "user", "content": "Tell me about wafers"}
    assert same.text == r.text  # the fake continues its own answer: forking at its own token gives it back


@pytest.mark.parametrize("position,token,needle", [
    (999, "x", "position must be a token position from 0 to"),
    (-1, "x", "position must be"),
    (2, "bytes:\\xc3", "whole-character alternative"),
    (2, "", "whole-character alternative"),
])
def test_bad_fork_input_is_one_line(session, fake_server, position, token, needle):
    r = cm.chat("hi", model="llama-3.3-70b", logprobs=2, max_tokens=20)
    with pytest.raises(E.ParameterError, match=needle):
        r.fork(position, token)


def test_fork_needs_logprobs(session, fake_server):
    r = cm.chat("hi", model="llama-3.3-70b", max_tokens=10)
    with pytest.raises(E.ParameterError, match="fork needs the answer's tokens"):
        r.fork(1, "x")


def test_fork_view_forks_on_message_and_keeps_a_static_fallback(session, fake_server):
    r = cm.chat("Explain a B-tree", model="llama-3.3-70b", logprobs=3, max_tokens=30, seed=4)
    from cerebras_magic.display import final_bundle
    view = ForkView(r, final_bundle(r)["text/html"], session=session)
    bundle = view._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert "application/vnd.jupyter.widget-view+json" in data and "cm-lp-box" in data["text/html"]
    assert view.pieces == fork_pieces(r.token_logprobs) and all(p["alts"] for p in view.pieces)
    k = _whole(r)
    view._on_msg(view, {"type": "fork", "position": k, "token": _alt(r, k)}, [])
    view._thread.join(10)
    assert view.status == "ok" and view.error == ""
    assert "fork at #" in view.branch_html and "cm-grid-final" in view.branch_html and "cm-div" in view.branch_html
    assert view.branches[0].parent_id == r.id
    view.fork(10_000, "x", wait=True)
    assert view.status == "error" and "position must be" in view.error


@pytest.mark.skipif(not local_available(), reason="the local model is not installed")
def test_fork_on_the_local_model_continues_in_the_chat_template(tmp_path):
    s = Session(history_path=str(tmp_path / "h.sqlite"), backend="local")
    try:
        r = s.run(cm.Ask.from_kwargs("Name a colour.", logprobs=5, max_tokens=12, temperature=0))
        k = next(i for i, e in enumerate(r.token_logprobs) if i >= 1 and e["token"].strip())
        alt = _alt(r, k)
        b = r.fork(k, alt)
        prefix = "".join(e["token"] for e in r.token_logprobs[:k])
        assert b.status == "ok" and b.backend == r.backend and b.endpoint == "chat"
        assert b.text.startswith(prefix + alt) and b.parent_id == r.id
        assert b.completion_tokens and b.usage.completion_tokens <= 12 - k - 1 + 1
        from cerebras_magic.local._engine import loaded_model
        model = loaded_model()
        text = model.chat_prompt([{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A partial"}])
        assert text.endswith("assistant\nA partial")  # the partial answer is continued, not closed
        same = r.fork(k, r.token_logprobs[k]["token"])
        assert same.text.startswith(prefix + r.token_logprobs[k]["token"])
    finally:
        s.close()
