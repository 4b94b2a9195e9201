"""Grids: comma lists on the flags (and cm.compare's lists) parsed in one place with one-line errors; every
cell streams at once over real HTTP to the fake server into one side-by-side view whose display messages
are bounded by time; a failing cell is an error in its own column; the divergence view, n samples, group ids
in the history, Ctrl-C."""
import json
import shlex

import pytest

import cerebras_magic as cm
from cerebras_magic import _errors as E
from cerebras_magic.core import Ask, Result
from cerebras_magic.core._compare import Comparison, cells_of, run_cells
from cerebras_magic.core._params import BY_NAME, grid, parse_value, split_values, unescape
from cerebras_magic.display import _diverge as D
from tests.conftest import run

MODELS = "llama-3.3-70b,gpt-oss-120b,qwen-3.8-27b"


# -- parsing --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,text,want", [
    ("model", "a,b, c", ["a", "b", "c"]),
    ("temperature", "0,0.7,1.2", ["0", "0.7", "1.2"]),
    ("system", "Be terse.,Be wordy, and kind.", ["Be terse.", "Be wordy, and kind."]),
    ("system", "One, two, three.", ["One, two, three."]),   # a comma then a space is text
    ("system", "a\\,b", ["a,b"]),                           # an escaped comma is text
    ("stop", "a,b", ["a,b"]),                               # not a grid flag
])
def test_split_values(name, text, want):
    p = BY_NAME[name]
    assert [unescape(v) if p.escaped else v for v in split_values(p, text)] == want


@pytest.mark.parametrize("name,text,line", [
    ("temperature", "hot", "-t/--temperature must be a number from 0 to 1.5 (got 'hot')"),
    ("temperature", "2", "-t/--temperature must be a number from 0 to 1.5 (got 2)"),
    ("seed", "1.5", "--seed must be an integer (got '1.5')"),
    ("max_tokens", "0", "--max-tokens must be an integer ≥ 1 (got 0)"),
])
def test_each_value_is_checked_naming_the_flag(name, text, line):
    with pytest.raises(E.ParameterError) as err:
        parse_value(BY_NAME[name], text)
    assert str(err.value) == line


def test_grid_is_the_product_and_has_a_limit():
    cells = grid({"model": ["a", "b"], "temperature": [0.0, 0.7], "seed": [1]})
    assert cells == [{"model": "a", "temperature": 0.0}, {"model": "a", "temperature": 0.7},
                     {"model": "b", "temperature": 0.0}, {"model": "b", "temperature": 0.7}]
    assert len(grid({"model": list("abcd"), "seed": [1, 2, 3, 4]})) == 16
    with pytest.raises(E.ParameterError, match=r"-m/--model 4 values x --seed 5 values is 20 answers; at most 16"):
        grid({"model": list("abcd"), "seed": [1, 2, 3, 4, 5]})
    with pytest.raises(E.ParameterError, match=r"n= 9 samples is 18 answers"):
        grid({"model": ["a", "b"]}, "python", samples=9)


def test_samples_get_counting_seeds_and_cells_are_ask_variants():
    base = Ask("hi", params={"max_tokens": 5})
    cells = cells_of(base, {"model": ["a", "b"], "seed": [7]}, samples=3)
    assert [(c["model"], c["sample"], a.get("seed")) for c, a in cells] == [
        ("a", 0, 7), ("a", 1, 8), ("a", 2, 9), ("b", 0, 7), ("b", 1, 8), ("b", 2, 9)]
    assert all(a.get("max_tokens") == 5 and a.prompt == "hi" and a.source == "compare" for _, a in cells)
    with pytest.raises(E.ParameterError, match="list of seeds or"):
        cells_of(base, {"seed": [1, 2]}, samples=2)


def test_a_system_prompt_with_commas_round_trips_through_to_cell():
    system = "Be terse,ok, and kind \\ a,b"
    line = Ask("hi", params={"system": system}).to_cell().splitlines()[0]
    value = shlex.split(line)[2]
    assert [unescape(v) for v in split_values(BY_NAME["system"], value)] == [system]


# -- running ----------------------------------------------------------------------------------------------
def test_cell_grid_streams_every_column_at_once_with_bounded_updates(shell, fake_server_paced):
    shell.run_line_magic("config", f"Cerebras.base_url = {fake_server_paced.base_url!r}")
    shell.run_line_magic("config", "Cerebras.update_rate = 10")
    res, msgs = run(shell, f"%%cerebras -m {MODELS} --max-tokens 500 --min-tokens 500 -o g\nExplain a B-tree.")
    assert res.error_in_exec is None, res.error_in_exec
    g = shell.user_ns["g"]
    assert [r.status for r in g] == ["ok"] * 3 and [r.completion_tokens for r in g] == [500] * 3
    starts, ends = [r.t_sent for r in g], [r.t_done for r in g]
    assert max(starts) < min(ends)  # all three were streaming at the same time
    span = max(ends) - min(starts)
    assert span < 0.9 * sum(e - s for s, e in zip(starts, ends))
    updates = [m for m in msgs if m.get("update")]
    assert len(msgs) <= 3 + 10 * span + 1, (len(msgs), span)  # open + updates by time + close + final
    assert len(updates) >= 2  # it did stream
    assert all("cm-grid-live" in m["data"]["text/html"] for m in updates[:-1])
    final = msgs[-1]["data"]
    assert not msgs[-1]["update"] and "cm-grid-final" in final["text/html"] and "<script" not in final["text/html"]
    assert final["text/html"].count('class="cm-col"') == 3
    for model in MODELS.split(","):
        assert model in final["text/plain"]
    bodies = [r.json for r in fake_server_paced.requests if r.path.endswith("/completions")]
    assert sorted(b["model"] for b in bodies) == sorted(MODELS.split(","))
    rows = cm.history().tail(3)
    assert rows["group_id"].nunique() == 1 and rows["group_id"].iloc[0] == g.group_id
    assert set(rows["source"]) == {"compare"}


def test_one_failing_column_is_an_error_in_that_column(shell, fake_server):
    fake_server.fault("stream-error:3", times=1)
    res, msgs = run(shell, "%%cerebras -m llama-3.3-70b,nope,gpt-oss-120b --max-tokens 20 -o g\nhi")
    assert res.error_in_exec is None
    g = shell.user_ns["g"]
    statuses = [r.status for r in g]
    assert statuses.count("error") == 2 and "not offered" in g[1].error  # the bad model, and the broken stream
    assert statuses.count("ok") == 1
    html = msgs[-1]["data"]["text/html"]
    assert html.count('data-status="error"') == 2 and html.count('data-status="ok"') == 1
    assert len(cm.history()) == 3  # every answer is a row, failed ones too


def test_compare_frame_and_n_samples(session, fake_server):
    g = cm.compare("Tagline for a coffee shop", models=["llama-3.3-70b", "qwen-3.8-27b"], temperature=[0, 0.7],
                   max_tokens=15, show=False)
    assert isinstance(g, Comparison) and len(g) == 4
    df = g.frame
    assert list(df[["model", "temperature"]].itertuples(index=False, name=None)) == [
        ("llama-3.3-70b", 0.0), ("llama-3.3-70b", 0.7), ("qwen-3.8-27b", 0.0), ("qwen-3.8-27b", 0.7)]
    for col in ("text", "completion_tokens", "ttft", "tokens_per_second", "cost_usd", "finish_reason", "group_id"):
        assert col in df.columns
    assert df["cost_usd"].notna().all() and (df["completion_tokens"] <= 15).all()
    s = cm.compare("Tagline", n=4, temperature=1.0, max_tokens=15, show=False)
    seeds = [r.json.get("seed") for r in fake_server.requests if r.path.endswith("/completions")][-4:]
    assert sorted(seeds) == [1, 2, 3, 4]
    a = s.agreement()
    assert a["answers"] == 4 and 1 <= a["distinct"] <= 4 and 0 <= a["mean_similarity"] <= 1
    with pytest.raises(E.ParameterError, match="temperature must be a number from 0 to 1.5"):
        cm.compare("x", temperature=[0, 3], show=False)


def test_ctrl_c_interrupts_every_cell(session, fake_server_paced):
    session.configure(base_url=fake_server_paced.base_url)
    asks = [Ask("hi", params={"max_tokens": 4000, "min_tokens": 4000, "seed": i}) for i in range(3)]
    calls = []

    def tick(force=False):
        calls.append(1)
        if len(calls) == 6:
            raise KeyboardInterrupt

    results = run_cells(session, asks, tick=tick)
    assert [r.status for r in results] == ["interrupted"] * 3
    assert all(0 < r.completion_tokens < 4000 for r in results)


# -- the views --------------------------------------------------------------------------------------------
def test_divergence_view_aligns_words_and_escapes():
    texts = ["The cat sat on the mat.", "The cat sat on a <b>rug</b>.", "The cat ran away."]
    html = D.divergence_html(["a", "b", "c"], texts)
    assert D.common_prefix(texts) == 2
    assert "share their first 2 words" in html or "first differ at word 3" in html
    assert "&lt;b&gt;rug&lt;/b&gt;" in html and "<b>rug" not in html
    assert "<ins" in html and "<del" in html and "cm-div-at" in html
    assert D.agreement(["x y", "x y"])["distinct"] == 1
    assert D.agreement_line(["x y z", "x y w"]) .endswith("they first differ at word 3")


def test_final_grid_escapes_model_text_and_plots_probabilities():
    rs = []
    for text in ("<img src=x onerror=alert(1)>", "javascript:alert(1) <script>x</script>"):
        r = Result(model="m", text=text)
        r.token_logprobs = [{"token": "a", "logprob": -0.1, "top": []}, {"token": "b", "logprob": -2.0, "top": []}]
        rs.append(r.finish("ok"))
    page = Comparison(rs).bundle()["text/html"]
    assert "<img" not in page and "<script>x" not in page and "&lt;img" in page
    assert "<polyline" in page and page.count("<polyline") == 2  # one probability line per answer


def test_dry_run_grid_shows_each_request(shell, fake_server):
    n = len(fake_server.requests)
    res, msgs = run(shell, "%%cerebras -t 0,1 --dry-run\nhi")
    assert res.error_in_exec is None and len(fake_server.requests) == n or all(
        not r.path.endswith("/completions") for r in fake_server.requests[n:])
    bodies = [m["data"]["application/json"]["json"] for m in msgs if "application/json" in m.get("data", {})]
    assert [b["temperature"] for b in bodies] == [0.0, 1.0]
    json.dumps(bodies)


# -- what a new user typed wrong --------------------------------------------------------------------------
@pytest.mark.parametrize("line,says", [
    ("-m llama-3.3-70b,", "-m/--model 'llama-3.3-70b,' has an empty item"),
    ("-m ,llama-3.3-70b", "-m/--model ',llama-3.3-70b' has an empty item"),
    ("--seed 1,1", "--seed lists 1 more than once"),
    ("-t 0,0.0", "-t/--temperature lists 0.0 more than once"),
    ("-n 0", "-n must be an integer ≥ 1 (got 0)"),
])
def test_a_grid_typo_is_one_line_and_nothing_is_sent(shell, fake_server, line, says):
    """An empty comma item used to become a column for the server's default model; a repeated value, a
    column sending the same request twice; -n 0, one answer."""
    res, _ = run(shell, f"%%cerebras {line} --max-tokens 5\nhi")
    assert type(res.error_in_exec).__name__ == "UsageError" and says in str(res.error_in_exec)
    assert not [r for r in fake_server.requests if r.method == "POST"] and len(cm.history()) == 0


def test_compare_says_a_comma_string_is_not_a_list(session, fake_server):
    with pytest.raises(E.ParameterError, match=r"models='a,b' is one string: give a list, models=\['a', 'b'\]"):
        cm.compare("x", models="a,b", show=False)
    with pytest.raises(E.ParameterError, match="temperature lists 0.5 more than once"):
        cm.compare("x", temperature=[0.5, 0.5], show=False)
    assert not fake_server.requests


def test_empty_answers_do_not_count_as_agreeing_and_reasoning_shows(session, fake_server):
    """A reasoning model cut at max tokens answers nothing: the divergence view compares answers only, and
    the frame and plain text say how much it reasoned."""
    g = cm.compare("Explain a B-tree", models=["llama-3.3-70b", "gpt-oss-120b"], max_tokens=12,
                   temperature=[0.2, 0.9], show=False)
    empty = [r for r in g if not r.text.strip()]
    assert empty and all(r.reasoning for r in empty)  # the fake gpt-oss spends 12 tokens reasoning
    assert g.agreement()["answers"] == len(g) - len(empty)
    assert "reasoning_tokens" in g.frame.columns and (g.frame.reasoning_tokens.fillna(0) > 0).any()
    text = g.bundle()["text/plain"]
    assert "(reasoning, " in text and f"({len(empty)} of {len(g)} gave no answer: not compared)" in text


def test_compare_in_a_plain_script_prints_nothing(tmp_path):
    """Outside IPython, display() prints a bundle's dict: the grid has no live view there."""
    import subprocess
    import sys
    code = ("import cerebras_magic as cm\nfrom cerebras_magic.testing import FakeServer\n"
            "s = FakeServer(api_key=None).start()\n"
            "cm.configure(base_url=s.base_url, api_key='x', history_path=None)\n"
            "g = cm.compare('hi', models=['llama-3.3-70b', 'qwen-3.8-27b'], max_tokens=5)\n"
            "print('answers', len(g))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                         env={**__import__("os").environ, "CEREBRAS_MAGIC_HISTORY": str(tmp_path / "h.sqlite")})
    assert out.returncode == 0, out.stderr
    assert out.stdout == "answers 2\n"
