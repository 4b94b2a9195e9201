"""cerebras_magic.ray.batch on a real local Ray cluster (2 CPUs) against the fake server on 127.0.0.1: the
workers are separate processes that reach it over HTTP. CI installs the [ray] extra (.ci/run)."""
import os
import sqlite3

import pandas as pd
import pytest

import cerebras_magic as cm

if os.environ.get("CI"):
    import ray  # noqa: F401  (CI must run this file: a missing Ray is a failure, not a skip)
ray = pytest.importorskip("ray")
cmray = pytest.importorskip("cerebras_magic.ray")


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    yield
    ray.shutdown()


def test_batch_over_a_dataset_on_two_workers(cluster, session, fake_server, tmp_path):
    df = pd.DataFrame({"id": range(60), "review": [f"review {i}" for i in range(60)]})
    ds = ray.data.from_pandas(df).repartition(6)
    out = cmray.batch(ds, "Classify: {review}", max_tokens=5, workers=2, concurrency=8, batch_size=10, name="rayrun")
    assert isinstance(out, ray.data.Dataset)
    got = out.to_pandas().set_index("id").loc[list(range(60))]
    assert list(got.columns) == ["review", "text", "status", "error", "finish_reason", "prompt_tokens",
                                 "completion_tokens", "ttft", "latency", "cost_usd", "history_id"]
    assert (got.status == "ok").all()
    want = cm.batch(df.review, "Classify: {}", max_tokens=5, progress=False)  # the same requests, in-process
    assert got.text.tolist() == want.text.tolist()
    with sqlite3.connect(session.history.path) as db:  # every row's call in the driver's history file
        ids = [r[0] for r in db.execute("select session_id from history where batch = 'rayrun'")]
    # sent by the workers' own sessions (one per actor; Ray decides how the blocks are shared between them)
    assert len(ids) == 60 and session.history.session_id not in ids and 1 <= len(set(ids)) <= 2
    fake_server.requests.clear()
    again = cmray.batch(ray.data.from_pandas(df).repartition(3), "Classify: {review}", max_tokens=5, workers=2,
                        name="rayrun").to_pandas()
    assert (again.status == "ok").all()
    assert not [r for r in fake_server.requests if r.path.endswith("/completions")]  # resumed from the history


def test_bad_input_is_one_line_on_the_driver(cluster, session, fake_server):
    ds = ray.data.from_pandas(pd.DataFrame({"review": ["x"], "text": ["y"]}))
    with pytest.raises(cm.ParameterError, match=r"\{revew\}.*'revew'"):
        cmray.batch(ds, "Classify: {revew}")
    with pytest.raises(cm.ParameterError, match="already has a column 'text'"):
        cmray.batch(ds, "Classify: {review}")
    with pytest.raises(cm.ParameterError, match=r"no \{column\} or \{\} placeholder, so every row"):
        cmray.batch(ds, "Classify this review.")  # refused on the driver, not in each worker's chunk
    with pytest.raises(cm.ParameterError, match=r"\{\} in the template stands for the value"):
        cmray.batch(ds, "Classify: {}")
    with pytest.raises(cm.ParameterError, match="ray.data.Dataset"):
        cmray.batch(pd.DataFrame({"review": ["x"]}), "Classify: {review}")
    with pytest.raises(cm.ParameterError, match="workers"):
        cmray.batch(ds, "Classify: {review}", workers=0)
    assert not [r for r in fake_server.requests if r.path.endswith("/completions")]


def test_the_key_travels_as_a_secret():
    secret = cmray._Secret("csk-very-secret")
    assert "csk" not in repr(secret) and "csk" not in str({"api_key": secret})
    import pickle
    assert pickle.loads(pickle.dumps(secret)).value == "csk-very-secret"
