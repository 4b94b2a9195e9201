"""Logprobs: regrouping from bytes, numbers, table, heat-map safety and size, in Python and in Chromium."""
import html as htmlmod
import json
import math
import re

import pytest

import cerebras_magic as cm
from cerebras_magic.display import _heatmap as H
from cerebras_magic.display import _tokens as L


def e(token, lp, top=None, b=None):
    return {"token": token, "logprob": lp, "top": top if top is not None else [(token, lp)], "bytes": b}


def test_multibyte_characters_are_rebuilt_from_bytes():
    rocket = "🚀".encode()
    entries = [e("Go", -0.1), e("bytes:\\xf0\\x9f", -0.2, b=list(rocket[:2])), e("bytes:\\x9a\\x80", -0.3, b=list(rocket[2:])),
               e("!", -0.05)]
    ps = L.pieces(entries)
    assert [p.text for p in ps] == ["Go", "🚀", "!"]
    assert ps[1].tokens == ["bytes:\\xf0\\x9f", "bytes:\\x9a\\x80"] and ps[1].logprob == pytest.approx(-0.5)
    no_bytes = [e("bytes:\\xe6\\x97", -0.1), e("bytes:\\xa5", -0.1)]  # vLLM-style names, no bytes field
    assert [p.text for p in L.pieces(no_bytes)] == ["日"]


def test_bytes_that_never_form_utf8_show_as_hex():
    entries = [e("a", -0.1), e("?", -0.2, b=[0xFF]), e("b", -0.1), e("x", -0.1, b=[0xC3])]
    assert [p.text for p in L.pieces(entries)] == ["a", "<0xFF>", "b", "<0xC3>"]
    assert [p.text for p in L.pieces([e("x", -0.1, b=[0xC3]), e(" y", -0.1)])] == ["<0xC3> y"]


def test_summary_numbers_by_hand():
    entries = [e("a", math.log(0.5), [("a", math.log(0.5)), ("b", math.log(0.25))]), e("c", math.log(0.125))]
    s = L.summary(entries)
    mean = (math.log(0.5) + math.log(0.125)) / 2
    assert s["tokens"] == 2 and s["mean_logprob"] == pytest.approx(mean)
    assert s["perplexity"] == pytest.approx(math.exp(-mean)) and s["lowest"][0].text == "c"
    h = L.approx_entropy([("a", math.log(0.5)), ("b", math.log(0.25))], math.log(0.5))
    assert h == pytest.approx(-(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25)))


def test_tooltip_marks_chosen_other_and_flags_missing():
    p = L.pieces([e(" the\n", math.log(0.6), [(" the\n", math.log(0.6)), ("\ta", math.log(0.3))])])[0]
    tip = H.tooltip(p, 5)
    assert "␣the↵" in tip and "✓ ␣the↵" in tip and "· ⇥a" in tip and "other  10.0%" in tip
    q = L.pieces([e("zz", math.log(0.01), [("a", math.log(0.7)), ("b", math.log(0.2))])])[0]
    assert q.rank is None and "not in the top 2" in H.tooltip(q, 5)


def test_frame_from_result_and_from_a_history_row(session):
    r = cm.chat("numbers please", logprobs=3, min_completion_tokens=25, max_completion_tokens=30)
    df = r.logprobs
    assert list(df.columns[:7]) == ["position", "token", "text", "text_offset", "logprob", "prob", "rank"]
    assert len(df) == r.completion_tokens and (df["prob"] <= 1).all() and df["top"].map(len).eq(3).all()
    assert "".join(df["text"]) == r.text  # whole characters, even where a token held half of one
    row = cm.history().iloc[-1]
    again = cm.logprobs_frame(row)
    assert again["token"].tolist() == df["token"].tolist()
    assert again["logprob"].round(4).tolist() == df["logprob"].round(4).tolist()
    streamed = cm.chat("numbers please", logprobs=3, min_completion_tokens=25, max_completion_tokens=30, stream=False)
    assert streamed.logprobs["token"].tolist() == df["token"].tolist()
    c = cm.complete("Once upon a time", logprobs=2, echo=True, max_tokens=6)
    cdf = c.logprobs
    assert cdf["text_offset"].iloc[0] == 0 and cdf["token"].iloc[0] == "Once"  # the echoed prompt comes first
    assert "".join(cdf["text"]) == c.text


def pd_isna(x):
    import pandas as pd
    return pd.isna(x)


INJECTION = ["<script>window.__pwned=1</script>", "<img src=x onerror=\"window.__pwned=2\">",
             "\"><svg onload=window.__pwned=3>", "'><b onmouseover=window.__pwned=4>x</b>", "</style><script>window.__pwned=5</script>",
             "</i><script>window.__pwned=6</script>", "javascript:window.__pwned=7", "\u202eevil\u202c", "nul\x00byte",
             "\x1b[31mred", "&lt;already&gt;", "{{7*7}}", "<!--", "]]>"]


def evil_entries():
    out = []
    for i, tok in enumerate(INJECTION):
        out.append(e(tok, -0.5 - i / 10, [(tok, -0.5 - i / 10), ("<script>window.__pwned=9</script>", -2.0)]))
    return out


def test_injection_corpus_is_escaped_in_python():
    page = H.heatmap_html(evil_entries())
    assert "<script>" not in page.replace("<style>", "") and "onerror=" not in page.split("title=")[0]
    for bad in ("<img", "<svg onload", "<b ", "</i><script"):
        assert bad not in page
    assert "\u202e" not in page and "\x00" not in page and "\x1b" not in page
    # every title attribute is properly quoted: parse them back and find the raw token text inside
    titles = [htmlmod.unescape(t) for t in re.findall(r'<i class="cm-t[^"]*"[^>]* title="([^"]*)"', page)]
    assert len(titles) == len(INJECTION) and "<script>window.__pwned=1</script>" in titles[0]
    links = [htmlmod.unescape(t) for t in re.findall(r'<a class="cm-l\d" href="#[\w-]+" title="([^"]*)"', page)]
    assert len(links) == 5 and all("\x00" not in t and "\u202e" not in t for t in links)


def test_injection_corpus_is_inert_in_chromium(browser, tmp_path):
    path = tmp_path / "evil.html"
    path.write_text("<!doctype html><meta charset=utf-8><body>" + H.heatmap_html(evil_entries()) + "</body>")
    page = browser.new_page()
    page.goto(path.as_uri())
    for el in page.locator(".cm-t").all():
        el.hover()
        el.focus()
    assert page.evaluate("window.__pwned") is None
    assert page.locator(".cm-lp script, .cm-lp img, .cm-lp b, .cm-lp svg:not([role=img])").count() == 0
    assert page.locator(".cm-t").count() == len(INJECTION)
    texts = page.locator(".cm-t").all_inner_texts()
    assert texts[0] == "<script>window.__pwned=1</script>"
    page.close()


def test_size_budget_and_10k_tokens_render_in_chromium(browser, tmp_path, fake_server):
    c = cm.Client(api_key="test-key", model="llama-3.3-70b", base_url=fake_server.base_url)
    entries = []
    for chunk in c.chat("a long answer", stream=True, logprobs=True, top_logprobs=5,
                        min_completion_tokens=10000, max_completion_tokens=10000):
        for t in (chunk.choices[0].logprobs.content if chunk.choices and chunk.choices[0].logprobs else []):
            entries.append({"token": t.token, "logprob": t.logprob, "bytes": t.bytes,
                            "top": [(a.token, a.logprob) for a in t.top_logprobs]})
    assert len(entries) == 10000
    page_html = H.heatmap_html(entries, top=5)
    per_token = len(page_html.encode()) / len(entries)
    assert per_token <= 300, per_token
    path = tmp_path / "big.html"
    path.write_text("<!doctype html><meta charset=utf-8><body>" + page_html + "</body>")
    page = browser.new_page()
    page.goto(path.as_uri())
    assert page.locator(".cm-t").count() == len(L.pieces(entries))
    page.locator(".cm-t").nth(5000).focus()
    assert page.evaluate("document.activeElement.getAttribute('title')").count("\n") >= 5
    page.close()


def test_relative_scale_and_bad_scale():
    entries = [e("a", math.log(0.9)), e("b", math.log(0.8))]
    rel = H.heatmap_html(entries, scale="relative")
    assert H.tint(0.0) in rel and H.tint(1.0) in rel  # 0.8 maps to the bottom, 0.9 to the top
    with pytest.raises(ValueError, match="allowed: absolute"):
        H.heatmap_html(entries, scale="log")


def test_magic_shows_heatmap_below_answer(shell, fake_server):
    from tests.conftest import run
    res, msgs = run(shell, "%%cerebras --logprobs 3 --min-tokens 12\nHi")
    final = msgs[-1]["data"]
    assert 'class="cm-t"' in final["text/html"] and "perplexity" in final["text/plain"]
    assert final["text/html"].index("cm-lp") > final["text/html"].index("<p>")
    res, msgs = run(shell, "%%cerebras --completion --echo --logprobs 2 --max-tokens 5\nOnce upon")
    assert res.result.text.startswith("Once upon") and res.result.token_logprobs[0]["token"] == "Once"
    assert json.loads(cm.history().iloc[-1]["logprobs"])
