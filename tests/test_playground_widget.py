"""The playground as a notebook widget (``nl.playground.show()``), on the kernel's own channel.

Without a browser: the widget's comm handler gets the page's messages (ready, a control, play,
acks) and sends back the server's hello, state and binary frames, from the same connection
handler and session as the server; closing it stops training.

In a real JupyterLab in Chromium, as a student would: a notebook runs the cell, Play moves the
epoch, a changed control reaches the kernel, JupyterLab's own layout is untouched. Skipped with
the reason when jupyterlab, anywidget, Playwright or /usr/bin/chromium is missing, unless
NEURALAB_REQUIRE_BROWSER=1. The screenshot goes to tests/artifacts/playground-jupyterlab.png.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import neuralab as nl
from _browser import ARTIFACTS, CHROMIUM, missing
from neuralab.playground import frames
from neuralab.playground.protocol import ProtocolError

ROOT = Path(__file__).resolve().parents[1]


class _Page:
    """What a page does with the widget's comm: messages in, everything sent back kept."""

    def __init__(self, widget):
        self.widget, self.sent = widget, []
        widget.send = lambda content, buffers=None: self.sent.append((content, buffers or []))

    def say(self, message: dict):
        self.widget._handle_custom_msg({"text": json.dumps(message)}, [])

    def texts(self, kind):
        return [json.loads(c["text"]) for c, _ in list(self.sent)
                if "text" in c and json.loads(c["text"])["type"] == kind]

    def frames(self):
        return [frames.unpack(bytes(b[0])) for c, b in list(self.sent) if c.get("binary")]

    def ack_all(self):
        for kind, seq, _ in self.frames():
            if kind == frames.FRAME:
                self.say({"type": "ack", "seq": seq})

    def wait(self, predicate, timeout=20.0):
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "the widget did not answer in time"
            self.ack_all()
            time.sleep(0.05)


def _epoch(sections):
    return sections[frames.SCALARS][frames.SCALAR_NAMES.index("epoch")]


@pytest.fixture
def widget():
    pytest.importorskip("anywidget")
    w = nl.playground.show({"dataset": "xor", "hidden": [3]})
    yield w
    w.close()


def test_the_widget_answers_on_its_comm_with_the_servers_messages(widget):
    page = _Page(widget)
    assert widget.hash == "#dataset=xor&hidden=3"        # what the page sets up, as a link would
    widget._handle_custom_msg({"ready": True}, [])       # a page appeared
    page.wait(lambda: page.texts("hello") and any(k == frames.FRAME for k, _, _ in page.frames()))
    hello = page.texts("hello")[0]
    assert "lr" in hello["fields"] and "max_upload" in hello["limits"]   # the server's hello
    assert all(isinstance(b[0], (bytes, memoryview)) for c, b in page.sent if c.get("binary"))

    page.say({"type": "set", "state": {"dataset": "xor", "hidden": [3], "lr": 0.3}})
    page.wait(lambda: page.texts("state"))
    assert page.texts("state")[-1]["state"]["lr"] == 0.3 and widget.session.state["lr"] == 0.3
    page.say({"type": "set", "state": {"hidden": [9]}})                # out of range: named
    page.wait(lambda: page.texts("error"))
    assert "hidden" in page.texts("error")[-1]["message"]

    page.say({"type": "play"})
    page.wait(lambda: max(_epoch(s) for k, _, s in page.frames() if k == frames.FRAME) >= 1)
    assert widget.session.playing

    widget.close()                                    # training stops with the widget
    assert not widget.session.playing
    time.sleep(0.3)
    seq, n = widget.session.seq, len(page.sent)
    page.ack_all()
    time.sleep(0.5)
    assert widget.session.seq == seq and len(page.sent) == n


def test_the_widget_trains_only_frames_its_page_acknowledges(widget):
    page = _Page(widget)
    widget._handle_custom_msg({"ready": True}, [])
    page.say({"type": "play"})
    time.sleep(1.0)                                   # no acks: at most the window in flight
    assert widget.session.seq <= widget._playground.limits["max_frames_in_flight"] + 2


def test_a_new_view_gets_a_new_connection_to_the_same_session(widget):
    page = _Page(widget)
    widget._handle_custom_msg({"ready": True}, [])
    page.say({"type": "set", "state": {"lr": 0.3}})
    page.wait(lambda: page.texts("state"))
    page.sent.clear()
    widget._handle_custom_msg({"ready": True}, [])       # the cell's output shown again
    page.wait(lambda: page.texts("hello") and page.frames())
    assert page.texts("hello")[0]["state"]["lr"] == 0.3
    assert frames.DATA in [k for k, _, _ in page.frames()]       # points and diagram again
    assert len(widget._playground.connections) == 1


def test_show_checks_its_state_and_keeps_the_iframe():
    pytest.importorskip("anywidget")
    with pytest.raises(ProtocolError, match="hidden"):
        nl.playground.show({"hidden": [99]})
    pytest.importorskip("uvicorn")
    frame = nl.playground.show({"dataset": "xor"}, iframe=True)
    assert frame.src.startswith("http://127.0.0.1:") and frame.src.endswith("#dataset=xor")


def test_the_widget_runs_the_server_pages_modules_with_its_style_scoped():
    pytest.importorskip("anywidget")
    from neuralab.playground import widget

    static = Path(widget.STATIC)
    esm = widget.PlaygroundWidget._esm
    for module in static.glob("*.js"):                # the same page: every module, verbatim
        assert json.dumps(module.read_text(encoding="utf-8")) in esm
    css = widget._scoped_css((static / "style.css").read_text(encoding="utf-8"))
    assert ":root" not in css and ".page-body {" in css and ".page-body.classroom" in css
    import re
    assert not re.search(r"(^|[\s,}])body\b", css)
    assert "<script" not in widget._page_body((static / "index.html").read_text())
    shown = widget.PlaygroundWidget()
    bundle = shown._repr_mimebundle_()
    shown.close()
    text = (bundle[0] if isinstance(bundle, tuple) else bundle)["text/plain"]
    assert "Colab" in text and len(text) > 110        # not ipywidgets' cut-off repr


# ---------------------------------------------------------------- in a real JupyterLab


def _missing():
    return missing("anywidget", "jupyterlab")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc):
    """The server and the kernels it started, each by its PID."""
    try:
        import psutil
        children = psutil.Process(proc.pid).children(recursive=True)
    except Exception:                       # psutil missing or the server already gone
        children = []
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    for child in children:
        try:
            if child.is_running():
                child.kill()
        except Exception:
            pass


NOTEBOOK = {"cells": [
    {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
     "source": "import neuralab as nl\n"
               "w = nl.playground.show({'dataset': 'xor', 'hidden': [2]})\nw"},
    {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
     "source": "print('kernel sees', w.session.state['lr'], w.session.state['hidden'])"}],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                "language": "python"}},
    "nbformat": 4, "nbformat_minor": 5}


def test_the_widget_trains_in_jupyterlab_in_chromium(tmp_path):
    reason = _missing()
    if reason:
        if os.environ.get("NEURALAB_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests required (NEURALAB_REQUIRE_BROWSER=1) but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "play.ipynb").write_text(json.dumps(NOTEBOOK))
    port, token = _free_port(), "neuralab-test-token"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "IPYTHONDIR": str(tmp_path / "ipy")}
    log = open(tmp_path / "lab.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}",
         "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path / 'root'}",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                assert proc.poll() is None, (tmp_path / "lab.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "JupyterLab did not start in 90 s"
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                page = browser.new_page(viewport={"width": 1500, "height": 1000})
                console = []
                page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
                try:
                    _student(page, f"{base}/lab/tree/play.ipynb?token={token}")
                except Exception:
                    ARTIFACTS.mkdir(exist_ok=True)
                    page.screenshot(path=str(ARTIFACTS / "playground-jupyterlab-failed.png"))
                    print("\n".join(console[-30:]))
                    print((tmp_path / "lab.log").read_text()[-3000:])
                    raise
            finally:
                browser.close()
    finally:
        _stop(proc)
        log.close()


def _student(page, url):
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url, timeout=90_000)
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=90_000)
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=90_000)   # kernel ready
    menu = page.locator("#jp-menu-panel").bounding_box()
    look = "() => ['body', '.jp-Cell', 'button', '.jp-OutputArea'].map((s) => {" \
           "const st = getComputedStyle(document.querySelector(s));" \
           "return [st.fontFamily, st.fontSize, st.color, st.background]; })"
    before = page.evaluate(look)
    page.locator(".jp-Cell .jp-InputArea-editor").first.click()
    page.keyboard.press("Shift+Enter")                # run the cell, as a student would
    widget = page.locator(".neuralab-playground")
    widget.wait_for(timeout=90_000)
    page.wait_for_function("() => window.playground && window.playground.frames >= 1",
                           timeout=60_000)
    epoch = widget.locator("#epoch")
    assert int(epoch.text_content()) == 0
    widget.get_by_role("button", name="Play").click()
    page.wait_for_function(
        "() => Number(document.querySelector('.neuralab-playground').shadowRoot"
        ".getElementById('epoch').textContent) >= 2", timeout=60_000)
    count = "() => window.playground.frames"
    frames0, t0 = page.evaluate(count), time.monotonic()
    time.sleep(2.0)
    rate = (page.evaluate(count) - frames0) / (time.monotonic() - t0)
    print(f"\nwidget frames drawn while training: {rate:.1f}/s")
    assert rate >= 3, f"{rate:.1f} frames/s over the comm"
    widget.get_by_role("button", name="Pause").click()
    bias = widget.locator("#network .bias").first           # hover: the tooltip is beside it
    bias.scroll_into_view_if_needed()
    spot = bias.bounding_box()
    page.mouse.move(spot["x"] + 4, spot["y"] + 4)
    tip = widget.locator("#tooltip")
    tip.wait_for(timeout=10_000)
    at = tip.bounding_box()
    assert 0 < at["x"] - (spot["x"] + 4) < 40 and 0 < at["y"] - (spot["y"] + 4) < 40, (spot, at)
    page.mouse.move(5, 300)
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "playground-jupyterlab.png"
    page.locator(".jp-Cell").first.locator(".jp-InputArea").scroll_into_view_if_needed()
    page.screenshot(path=str(path))
    print(f"\nscreenshot of the widget in JupyterLab: {path}")
    # a control: the learning rate, then one more hidden layer (the drawing is rebuilt)
    widget.locator('select[data-field="lr"]').select_option("0.3")
    widget.locator("#add-layer").click()
    page.wait_for_function("() => window.playground.shape && window.playground.shape.length"
                           " === 4", timeout=30_000)
    page.keyboard.press("Escape")
    page.locator(".jp-Cell .jp-InputArea-editor").nth(1).click()
    page.keyboard.press("Shift+Enter")                # ask the kernel what it has
    out = page.locator(".jp-Cell").nth(1).locator(".jp-OutputArea-output")
    out.wait_for(timeout=30_000)
    page.wait_for_function("() => document.body.innerText.includes('kernel sees')",
                           timeout=30_000)
    assert "kernel sees 0.3 [2, 2]" in out.text_content()
    # the page's style stays in its shadow root: JupyterLab's bar and fonts are untouched
    assert page.locator("#jp-menu-panel").bounding_box() == menu
    assert page.evaluate(look) == before
    assert not errors, errors
