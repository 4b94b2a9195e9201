"""Shared fixtures: a real IPython shell with the extension loaded, pointed at the fake server."""
import contextlib
import os
import pathlib
import tempfile

import pytest
from IPython.core.displaypub import DisplayPublisher
from IPython.core.interactiveshell import InteractiveShell

from cerebras_magic.core import Session, set_default_session

KEY = "test-key"
HOME_STORE = pathlib.Path.home() / ".cerebras_magic"


def pytest_configure(config):
    """Every history the run opens by default, nbval's notebook kernels included (they inherit the
    environment), goes to a temporary file: the test run never writes to ~/.cerebras_magic."""
    os.environ["CEREBRAS_MAGIC_HISTORY"] = os.path.join(tempfile.mkdtemp(prefix="cm-test-"), "history.sqlite")


def _home_store_state() -> dict:
    if not HOME_STORE.exists():
        return {}
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in HOME_STORE.rglob("*")}


@pytest.fixture(scope="session", autouse=True)
def home_store_untouched():
    """Fails the run (an error at its last teardown) if ~/.cerebras_magic changed while it ran."""
    before = _home_store_state()
    yield
    after = _home_store_state()
    assert after == before, f"the test run changed {HOME_STORE}: {sorted(set(after.items()) ^ set(before.items()))}"


class CapturingPublisher(DisplayPublisher):
    """Records every display message the kernel would send to the front end."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.messages = []

    def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kw):
        self.messages.append({"data": data, "transient": transient or {}, "update": update})

    def clear_output(self, wait=False):
        self.messages.append({"clear": True})

    @property
    def bytes_sent(self) -> int:
        return sum(len(v.encode()) if isinstance(v, str) else len(str(v)) for m in self.messages
                   for v in m.get("data", {}).values())


@pytest.fixture
def session(fake_server, tmp_path, monkeypatch):
    """A fresh default Session talking to the fake server, with its history in a temporary file."""
    monkeypatch.setenv("CEREBRAS_API_KEY", KEY)
    monkeypatch.delenv("CEREBRAS_BASE_URL", raising=False)
    # a model that does not reason: most tests look at the answer's text under a small max tokens
    s = Session(history_path=str(tmp_path / "history.sqlite"), base_url=fake_server.base_url, model="llama-3.3-70b")
    previous = set_default_session(s)
    yield s
    set_default_session(previous)
    s.close()


@pytest.fixture
def shell(session, fake_server, tmp_path):
    from cerebras_magic.notebook._magic import Cerebras, load_ipython_extension

    sh = InteractiveShell.instance()
    old_pub = sh.display_pub
    sh.display_pub = CapturingPublisher(shell=sh)
    sh.configurables[:] = [c for c in sh.configurables if not isinstance(c, Cerebras)]
    sh.config.pop("Cerebras", None)  # the shell is a singleton: an earlier test's %config must not leak
    load_ipython_extension(sh)
    sh.run_line_magic("config", f"Cerebras.base_url = {fake_server.base_url!r}")
    sh.run_line_magic("config", f"Cerebras.history_path = {str(tmp_path / 'history.sqlite')!r}")
    sh.user_ns.pop("_", None)
    yield sh
    sh.display_pub = old_pub


def run(sh, cell: str):
    """Run a cell; return (ExecutionResult, captured display messages of this cell)."""
    before = len(sh.display_pub.messages)
    res = sh.run_cell(cell, store_history=True)
    return res, sh.display_pub.messages[before:]


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium through Playwright (never a downloaded browser). Required in CI.

    Module scope: while Playwright's sync API is open, the main thread counts as running an event loop,
    which would break asyncio tests in other modules."""
    import os
    import shutil
    if not shutil.which(CHROMIUM) or not _has("playwright"):
        if os.environ.get("CI"):
            pytest.fail("CI needs /usr/bin/chromium and playwright (.ci/run installs them)")
        pytest.skip("headless Chromium not installed (apt-get install chromium; pip install playwright)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _has(module: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(module) is not None


def free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server_process(cmd, ready_url: str, log_path, what: str, *, env=None, cwd=None, timeout: float = 60):
    """A server subprocess, yielded once `ready_url` answers 200; always stopped by its PID (TERM, then KILL)."""
    import subprocess
    import time

    import httpx
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                pytest.fail(f"{what} exited with {proc.returncode}:\n{_tail(log_path)}")
            try:
                if httpx.get(ready_url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{what} did not answer {ready_url} in {timeout:.0f} s:\n{_tail(log_path)}")
            time.sleep(0.2)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        log.close()


def _tail(path, n: int = 3000) -> str:
    import pathlib
    return pathlib.Path(path).read_text(errors="replace")[-n:]


def lab_env(tmp, **extra) -> dict:
    """A JupyterLab's environment kept inside `tmp` (its home, config, settings and runtime): no news or
    update checks (offline) and no pop-up asking about them."""
    import json
    import os
    settings = tmp / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false",
                                                                          "checkForUpdates": False}))
    for name in ("home", "config", "data", "runtime", "workspaces"):
        (tmp / name).mkdir(exist_ok=True)
    return dict(os.environ, HOME=str(tmp / "home"), JUPYTER_CONFIG_DIR=str(tmp / "config"),
                JUPYTER_DATA_DIR=str(tmp / "data"), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
                JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"), JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
                IPYTHONDIR=str(tmp / "ipython"), PYTHONUNBUFFERED="1", **extra)


JUPYTER_APPS = {"lab": "LabApp", "notebook": "JupyterNotebookApp"}  # `jupyter <app>` and its config class


@contextlib.contextmanager
def jupyter_app(tmp, env: dict, app: str = "lab"):
    """JupyterLab (`app="lab"`) or Notebook 7 (`app="notebook"`) serving `tmp` on a free loopback port, no
    token, with `window.jupyterapp` exposed; yields its URL; stopped by its PID."""
    import sys
    cls = JUPYTER_APPS[app]
    port = free_port()
    cmd = [sys.executable, "-m", "jupyter", app, "--no-browser", "--allow-root", "--ServerApp.token=",
           "--ServerApp.password=", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
           f"--ServerApp.root_dir={tmp}", "--ServerApp.open_browser=False", f"--{cls}.expose_app_in_browser=True"]
    if app == "lab":
        cmd.append("--LabApp.news_url=None")
    url = f"http://127.0.0.1:{port}"
    with server_process(cmd, f"{url}/api/status", tmp / "jupyter.log", f"jupyter {app}", env=env, cwd=tmp):
        yield url


def jupyter_lab(tmp, env: dict):
    """JupyterLab serving `tmp` (see `jupyter_app`); yields its URL."""
    return jupyter_app(tmp, env, "lab")


@contextlib.contextmanager
def app_on_fake_server(tmp, app: str = "lab", **pace):
    """A FakeServer (key "test-key", paced by `pace`) in this process and a Jupyter app whose kernels talk
    to it, with the history in `tmp`; yields {url, tmp, fake, history, log}; both stopped afterwards."""
    from cerebras_magic.testing import FakeServer
    srv = FakeServer(api_key="test-key", **pace).start()
    env = lab_env(tmp, CEREBRAS_API_KEY="test-key", CEREBRAS_BASE_URL=srv.base_url,
                  CEREBRAS_MAGIC_HISTORY=str(tmp / "h.sqlite"))
    try:
        with jupyter_app(tmp, env, app) as url:
            yield {"url": url, "tmp": tmp, "fake": srv, "history": tmp / "h.sqlite", "log": tmp / "jupyter.log"}
    finally:
        srv.stop()


def wait_for(pred, timeout: float = 10.0) -> bool:
    """Poll `pred` until it is true (True) or `timeout` seconds pass (False)."""
    import time
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.01)
    return False


# true once the current notebook's kernel is connected and idle (a cell can be run)
KERNEL_IDLE = """() => {
    const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
    return !!k && k.status === 'idle' && k.connectionStatus === 'connected';
}"""


@contextlib.contextmanager
def notebook_page(browser, url: str, server: dict, ready: tuple, *, name: str):
    """A page with the notebook at `url` open, every cell run, and each selector of `ready` shown; on a
    timeout, a screenshot and the outputs and server log in the failure."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    p = context.new_page()
    p.set_default_timeout(30_000)
    p.goto(url)
    p.wait_for_selector(".jp-NotebookPanel .jp-Cell .cm-content")
    p.wait_for_function(KERNEL_IDLE, timeout=60_000)
    p.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    try:
        for selector in ready:
            p.wait_for_selector(selector, timeout=30_000)
    except Exception:
        p.screenshot(path=str(server["tmp"] / f"{name}-failed.png"))
        raise AssertionError(f"outputs: {p.locator('.jp-OutputArea').all_inner_texts()!r}\n"
                             f"{server['log'].read_text()[-3000:]}") from None
    try:
        yield p
    finally:
        context.close()
