"""The playground in a real browser: headless Chromium (Debian's package) driven by
Playwright, controls found by role and accessible name as a user (or a screen reader) would.

Skipped with the reason when Playwright or /usr/bin/chromium is missing, unless
NEURALAB_REQUIRE_BROWSER=1 (set by .ci/run), which turns the skip into a failure.
The screenshot goes to tests/artifacts/playground.png (git-ignored; its path is printed).
"""

import os
import re
import time

import pytest

import neuralab as nl
from _browser import ARTIFACTS, CHROMIUM, missing


def _missing():
    return missing("starlette", "uvicorn")


@pytest.fixture(scope="module")
def browser():
    reason = _missing()
    if reason:
        if os.environ.get("NEURALAB_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests required (NEURALAB_REQUIRE_BROWSER=1) but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def url(browser):
    from neuralab.playground.server import create_app, serve_in_thread

    server, thread, url = serve_in_thread(create_app())
    yield url
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def page(browser, url):
    context = browser.new_context(viewport={"width": 1400, "height": 1100},
                                  accept_downloads=True, bypass_csp=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    _wait_frames(page)
    yield page
    context.close()
    assert not errors, errors


def _wait_frames(page, n=1, timeout=20):
    page.wait_for_function(f"() => window.playground && window.playground.frames >= {n}",
                           timeout=timeout * 1000)


def _scalar(page, name):
    return page.evaluate(f"() => window.playground.scalars.{name}")


def _href(page):
    """The address bar (page.url can miss history.replaceState)."""
    return page.evaluate("() => location.href")


def _wait_url(page, text, timeout=10):
    end = time.monotonic() + timeout
    while text not in _href(page):
        assert time.monotonic() < end, f"{text!r} never reached the URL: {_href(page)}"
        time.sleep(0.05)


def _ctl(page, name):
    """The control whose accessible name is exactly ``name``."""
    return page.get_by_label(name, exact=True)


def _percent(page, label):
    text = _ctl(page, label).text_content()
    return float(text.rstrip("%")) if text.endswith("%") else 0.0


def test_xor_with_two_hidden_tanh_layers_learns_after_play(page):
    _ctl(page, "Data set").select_option("xor")
    _ctl(page, "Activation").select_option("tanh")
    _wait_url(page, "dataset=xor")
    assert _ctl(page, "Hidden layers").text_content() == "2 hidden layers"
    page.get_by_role("button", name="Play").click()
    end = time.monotonic() + 90
    while _percent(page, "Test accuracy") < 95:
        assert time.monotonic() < end, _ctl(page, "Test accuracy").text_content()
        time.sleep(0.25)
    page.get_by_role("button", name="Pause").click()
    _ctl(page, "Neuron 1 of layer 1").hover()              # shown large
    page.wait_for_function("() => window.playground.scalars.focus_layer === 1")
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "playground.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"\nscreenshot of the playground: {path}")
    assert path.stat().st_size > 10_000


def test_a_hidden_layer_removed_and_added(page):
    page.get_by_role("button", name="Remove a hidden layer").click()
    page.wait_for_function("() => document.querySelector('#layer-count').textContent"
                           " === '1 hidden layer'")
    page.wait_for_function("() => !document.querySelector('[aria-label=\"Neuron 1 of layer 2\"]')")
    assert _ctl(page, "Neuron 4 of layer 1").count() == 1
    page.get_by_role("button", name="Add a hidden layer").click()
    page.wait_for_function("() => !!document.querySelector('[aria-label=\"Neuron 2 of layer 2\"]')")
    assert _ctl(page, "Hidden layers").text_content() == "2 hidden layers"
    page.get_by_role("button", name="Add a neuron to layer 1").click()
    page.wait_for_function("() => !!document.querySelector('[aria-label=\"Neuron 5 of layer 1\"]')")
    _wait_url(page, "hidden=5%2C2")


def _thumbnails(page, layer):
    return page.evaluate("""(layer) => {
        const out = [];
        for (let i = 1; ; i++) {
            const c = document.querySelector(`[aria-label="Neuron ${i} of layer ${layer}"]`);
            if (!c) return out;
            out.push(Array.from(c.getContext('2d').getImageData(0, 0, 20, 20).data));
        }}""", layer)


def test_zero_init_leaves_a_layers_thumbnails_identical(page):
    _ctl(page, "Activation").select_option("sigmoid")
    _ctl(page, "Initialization").select_option("zeros")
    _wait_url(page, "init=zeros")
    assert "stays identical" in page.locator("#init-note").text_content()
    page.get_by_role("button", name="Play").click()
    start = _scalar(page, "step")
    page.wait_for_function(f"() => window.playground.scalars.step > {start + 200}", timeout=30000)
    page.get_by_role("button", name="Pause").click()
    images = _thumbnails(page, 1)
    assert len(images) == 4 and all(img == images[0] for img in images)
    _ctl(page, "Initialization").select_option("xavier_uniform")
    _wait_url(page, "init=xavier_uniform")
    page.get_by_role("button", name="Step").click()
    page.wait_for_function("() => window.playground.scalars.step > 0", timeout=20000)
    images = _thumbnails(page, 1)
    assert not all(img == images[0] for img in images)


CONTROLS = ["Problem type", "Data set", "Points", "Noise", "Training data (%)", "Batch size",
            "Seed", "Activation", "Initialization", "Optimizer", "Learning rate", "Adam β1",
            "Schedule", "Cosine period T (epochs)", "Warm-up epochs", "Regularization",
            "Regularization rate", "Steps per frame"]
CHECKS = ["Show test data", "Discretize output", "Input x1^2", "Input sin(x2)"]


def _values(page):
    out = {name: _ctl(page, name).input_value() for name in CONTROLS}
    out.update({name: _ctl(page, name).is_checked() for name in CHECKS})
    out["layers"] = _ctl(page, "Hidden layers").text_content()
    out["racer"] = _ctl(page, "Racer 2 optimizer").input_value()
    return out


def test_a_url_round_trip_restores_every_control(page, browser):
    _ctl(page, "Data set").select_option("spiral")
    _ctl(page, "Points").fill("300")
    _ctl(page, "Points").press("Enter")
    _ctl(page, "Noise").fill("25")
    _ctl(page, "Training data (%)").fill("70")
    _ctl(page, "Batch size").fill("5")
    _ctl(page, "Seed").fill("42")
    _ctl(page, "Seed").press("Enter")
    _ctl(page, "Input x1^2").check()
    _ctl(page, "Input sin(x2)").check()
    _ctl(page, "Activation").select_option("relu")
    _ctl(page, "Initialization").select_option("he_normal")
    _ctl(page, "Optimizer").select_option("adam")
    _ctl(page, "Adam β1").fill("0.8")
    _ctl(page, "Adam β1").press("Enter")
    _ctl(page, "Learning rate").select_option("0.01")
    _ctl(page, "Schedule").select_option("cosine")
    _ctl(page, "Cosine period T (epochs)").fill("50")
    _ctl(page, "Cosine period T (epochs)").press("Enter")
    _ctl(page, "Warm-up epochs").fill("3")
    _ctl(page, "Warm-up epochs").press("Enter")
    _ctl(page, "Regularization").select_option("L2")
    _ctl(page, "Regularization rate").select_option("0.003")
    _ctl(page, "Steps per frame").fill("10")
    _ctl(page, "Steps per frame").press("Enter")
    _ctl(page, "Show test data").check()
    _ctl(page, "Discretize output").check()
    page.get_by_role("button", name="Add a hidden layer").click()
    page.get_by_role("button", name="Add a racer").click()
    _wait_url(page, "race=adam%3A0.01")
    before = _values(page)
    assert before["Data set"] == "spiral" and before["Seed"] == "42"
    assert before["layers"] == "3 hidden layers" and before["Input x1^2"]
    other = browser.new_context(bypass_csp=True).new_page()
    other.goto(_href(page))
    _wait_frames(other)
    _wait_url(other, "race=adam%3A0.01")
    assert _values(other) == before
    other.context.close()


def test_export_is_accepted_by_neuralab_evaluate(page, tmp_path, capsys):
    from neuralab.cli import main

    _ctl(page, "Data set").select_option("gauss")
    _wait_url(page, "dataset=gauss")
    page.get_by_role("button", name="Step").click()
    page.wait_for_function("() => window.playground.scalars.step > 0")
    paths = {}
    for name, link in [("model", "Model (.safetensors)"), ("data", "Data (.csv)"),
                       ("python", "Python snippet")]:
        with page.expect_download() as download:
            page.get_by_role("link", name=link).click()
        paths[name] = tmp_path / download.value.suggested_filename
        download.value.save_as(paths[name])
    assert nl.load(paths["model"]).n_in == 2
    assert "nl.fit(" in paths["python"].read_text()
    capsys.readouterr()
    assert main(["evaluate", str(paths["model"]), "--data", str(paths["data"])]) == 0
    assert re.search(r"test accuracy\s+\d", capsys.readouterr().out)


def test_bad_input_shows_an_error_and_training_goes_on(page):
    page.get_by_role("button", name="Play").click()
    page.wait_for_function("() => window.playground.scalars.step > 0")
    _ctl(page, "Points").fill("1000000000")
    _ctl(page, "Points").press("Enter")
    alert = page.get_by_role("alert")
    alert.get_by_text(re.compile("points must be between 20 and 2000")).wait_for()
    step = _scalar(page, "step")
    page.wait_for_function(f"() => window.playground.scalars.step > {step + 50}")
    assert _ctl(page, "Points").input_value() == "500"    # back to the server's value
    _ctl(page, "Seed").fill("")
    _ctl(page, "Seed").press("Enter")
    alert.get_by_text(re.compile("seed must be an integer")).wait_for()
    assert page.get_by_role("button", name="Pause").count() == 1     # still playing


def test_a_weight_is_shown_on_hover_and_edited_by_click(page):
    link = _ctl(page, "Weight from Network input x1 to Neuron 1 of layer 1")
    link.click(force=True)
    editor = _ctl(page, "Weight value")
    editor.fill("3")
    editor.press("Enter")
    page.wait_for_function("() => window.playground.frames > 1")
    link.dispatch_event("mouseenter")        # this line (a hover could hit one crossing it)
    page.get_by_role("tooltip").get_by_text("weight 3.000").wait_for()
    page.get_by_role("button", name="Play").click()               # it trains on from there
    page.wait_for_function("() => window.playground.scalars.step > 0")


def test_presets_and_the_race(page):
    _ctl(page, "Preset").select_option("optimizer-race")
    _wait_url(page, "race=momentum%3A0.03%2Cadam%3A0.01")
    assert "Optimizer race" in page.locator("#preset-text").text_content()
    assert _ctl(page, "Racer 3 optimizer").input_value() == "adam"
    page.get_by_role("button", name="Play").click()
    page.wait_for_function("() => window.playground.scalars.step > 100", timeout=30000)
    page.get_by_role("button", name="Remove racer 3").click()
    _wait_url(page, "race=momentum%3A0.03&")


def test_a_classroom_link_hides_the_chosen_controls(page, browser):
    page.get_by_text("Hide controls").click()
    _ctl(page, "Hide lr").check()
    _ctl(page, "Hide activation").check()
    _wait_url(page, "hide=activation%2Clr")
    assert _ctl(page, "Learning rate").is_visible()               # the teacher still sees it
    link = page.get_by_role("link", name="Classroom link").get_attribute("href")
    student = browser.new_context(bypass_csp=True).new_page()
    student.goto(link)
    _wait_frames(student)
    assert not _ctl(student, "Learning rate").is_visible()
    assert not _ctl(student, "Activation").is_visible()
    assert _ctl(student, "Optimizer").is_visible()
    assert not student.get_by_role("link", name="Classroom link").is_visible()
    student.context.close()


def test_a_csv_upload_trains_and_a_bad_one_is_explained(page, tmp_path):
    good = tmp_path / "mine.csv"
    good.write_text("x1,x2,label\n" + "\n".join(
        f"{i / 10 - 3},{(i * 7) % 60 / 10 - 3},{int(i % 3 == 0)}" for i in range(60)))
    _ctl(page, "Upload CSV").set_input_files(str(good))
    _wait_url(page, "dataset=upload")
    assert _ctl(page, "Data set").input_value() == "upload"
    bad = tmp_path / "bad.csv"
    bad.write_text("x1,x2,label\n" + "1,2,0\n" * 20 + "1,oops,1\n")
    _ctl(page, "Upload CSV").set_input_files(str(bad))
    page.get_by_role("alert").get_by_text(re.compile("line 22, column 2")).wait_for()
    assert "dataset=upload" in _href(page)                     # the good upload stays


# ---------------------------------------------------------------------------- in a notebook


def _notebook_page(tmp_path, src):
    """A page of another local origin (as Jupyter's is) that frames ``src``; its URL."""
    import functools
    import http.server
    import threading

    (tmp_path / "notebook.html").write_text(
        f'<html><body><iframe id="pg" src="{src}" width="1300" height="900"></iframe>'
        "</body></html>")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://localhost:{httpd.server_address[1]}/notebook.html"


def test_show_embeds_a_working_playground_in_a_notebook_page(browser, tmp_path):
    # nl.playground.show(iframe=True) is an IFrame on the kernel's own server, which lets local
    # pages frame it (CSP frame-ancestors), set up as the state says; the frame trains and draws
    # (the default, a widget on the kernel's channel, is tested in test_playground_widget.py)
    import neuralab.playground as pg

    frame = nl.playground.show({"dataset": "xor", "hidden": [3, 2], "activation": "relu"},
                               iframe=True, height=700)
    assert frame.height == 700 and "#dataset=xor&hidden=3%2C2&activation=relu" in frame.src
    assert frame.src == pg.url({"dataset": "xor", "hidden": [3, 2], "activation": "relu"})
    with pytest.raises(pg.protocol.ProtocolError, match="hidden"):
        pg.url({"hidden": [100]})
    httpd, page_url = _notebook_page(tmp_path, frame.src)
    context = browser.new_context()               # the CSP is enforced here
    try:
        page = context.new_page()
        page.goto(page_url)
        inner = page.frame_locator("#pg")
        inner.get_by_role("button", name="Play").click()
        child = page.frames[1]
        child.wait_for_function("() => window.playground && window.playground.frames > 3",
                                timeout=30000)
        assert child.evaluate("() => location.hash").startswith("#")
        assert child.evaluate("() => window.playground.shape.join()") == "2,3,2,1"
    finally:
        context.close()
        httpd.shutdown()


def test_a_standalone_playground_refuses_to_be_framed(browser, url, tmp_path):
    httpd, page_url = _notebook_page(tmp_path, url)
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(page_url)
        time.sleep(1.5)
        frame = page.frames[1]
        assert frame.evaluate("() => window.playground === undefined")   # blocked
    finally:
        context.close()
        httpd.shutdown()


# ---------------------------------------------------------------- classroom-grade design


VIEWPORTS = [(1440, 900), (1280, 720), (390, 844)]
TOP_BAR = ["Learning rate", "Optimizer", "Activation", "Regularization", "Problem type"]


def _viewport_page(browser, url, width, height, hash_=""):
    context = browser.new_context(viewport={"width": width, "height": height},
                                  bypass_csp=True, has_touch=width < 700)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url + hash_)
    _wait_frames(page)
    return page, errors


def _in_view(page, locator):
    box = locator.bounding_box()
    size = page.viewport_size
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= size["height"] \
        and box["x"] >= 0 and box["x"] + box["width"] <= size["width"]


@pytest.mark.parametrize("width, height", VIEWPORTS)
def test_each_viewport_shows_the_controls_and_the_drawing_fits(browser, url, width, height):
    page, errors = _viewport_page(browser, url, width, height,
                                  "#hidden=8%2C8%2C8%2C8%2C8%2C8&dataset=xor")
    page.wait_for_function("() => document.querySelectorAll('canvas.node').length === 7 + 48 + 1")
    # no sideways scroll
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    net = page.locator("#network").bounding_box()
    panel = page.locator("#network-panel").bounding_box()
    nodes = page.evaluate("""() => [...document.querySelectorAll('#network canvas.node')]
        .map((c) => { const r = c.getBoundingClientRect();
                      return [r.left, r.top, r.right, r.bottom, r.width]; })""")
    # the 6x8 network fits its panel, and the drawing spreads over most of its width
    right = panel["x"] + panel["width"] + 0.5
    assert all(panel["x"] <= left and r <= right for left, _, r, _, _ in nodes)
    assert all(b <= panel["y"] + panel["height"] + 0.5 for _, _, _, b, _ in nodes)
    spread = max(r for _, _, r, _, _ in nodes) - min(l for l, _, _, _, _ in nodes)
    assert spread >= 0.6 * net["width"]
    labels = page.evaluate("""() => [...document.querySelectorAll(
        '#network .layer-label, #network .feature-label')].map((e) =>
        parseFloat(getComputedStyle(e).fontSize))""")
    assert min(labels) >= 12
    if width >= 1000:
        assert min(w for *_, w in nodes) >= 40
        # a projector: the main training controls and Play in view without scrolling
        for name in TOP_BAR:
            assert _in_view(page, _ctl(page, name)), name
        assert _in_view(page, page.get_by_role("button", name="Play"))
        assert all(b <= height for _, _, _, b, _ in nodes)       # the whole 6x8 network too
    else:
        # a phone: one column, touch targets of 40 px
        boxes = [page.locator(f"#{s}").bounding_box() for s in ("data-panel", "network-panel",
                                                                 "output-panel")]
        assert boxes[0]["y"] < boxes[1]["y"] < boxes[2]["y"]
        for role, name in [("button", "Play"), ("button", "Step"), ("button", "Reset"),
                           ("button", "Add a hidden layer"), ("button", "Add a neuron to layer 1")]:
            box = page.get_by_role(role, name=name).bounding_box()
            assert box["width"] >= 40 and box["height"] >= 40, name
        for name in TOP_BAR:
            assert _ctl(page, name).bounding_box()["height"] >= 40, name
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"playground-{width}x{height}.png"
    page.get_by_role("button", name="Play").click()
    page.wait_for_function("() => window.playground.scalars.step > 100", timeout=30000)
    page.screenshot(path=str(path), full_page=True)
    print(f"\nscreenshot at {width}x{height}: {path}")
    page.context.close()
    assert not errors, errors


def test_nothing_moves_while_training(page):
    _ctl(page, "Data set").select_option("xor")
    _wait_url(page, "dataset=xor")
    boxes = """() => [...document.querySelectorAll('header *, .toolbar *, main *')]
        .filter((e) => e.offsetParent !== null)
        .map((e) => { const r = e.getBoundingClientRect();
                      return [e.tagName, e.id, r.x, r.y, r.width, r.height].join(); })"""
    page.get_by_role("button", name="Play").click()
    page.wait_for_function("() => window.playground.scalars.step > 0")
    page.wait_for_function("() => window.playground.scalars.epoch < 9")
    before = page.evaluate(boxes)
    # through epochs 10 and 100 (a wider counter) and a changing loss
    page.wait_for_function("() => window.playground.scalars.epoch > 101", timeout=60000)
    after = page.evaluate(boxes)
    assert after == before, [(a, b) for a, b in zip(before, after, strict=True) if a != b][:5]


def test_the_heatmap_is_pale_with_axes_legend_and_the_hovered_neuron(page):
    alpha = page.evaluate("""() => document.querySelector('#heatmap').getContext('2d')
        .getImageData(2, 2, 1, 1).data[3]""")
    assert 130 <= alpha <= 180                                   # about 60%: points readable
    ticks = page.locator("#xticks span").all_text_contents()
    assert ticks[0] == "−6" and ticks[-1] == "6"
    assert "colour" in page.locator("#color-legend").text_content()
    assert page.locator("#focus").count() == 0                  # no inset over the corner
    _ctl(page, "Neuron 2 of layer 1").hover()
    page.wait_for_function("() => window.playground.scalars.focus_layer === 1")
    page.locator("#heatmap-caption").get_by_text("neuron 2 of layer 1").wait_for()


def test_inputs_are_all_drawn_and_switched_by_a_click(page):
    assert page.locator("canvas.node.input-off").count() == 5
    page.get_by_label("Input x1^2 (off)", exact=True).click()
    _wait_url(page, "features=x1%2Cx2%2Cx1%5E2")
    page.wait_for_function("() => document.querySelectorAll('canvas.node.input-off').length === 4")
    assert _ctl(page, "Input x1^2").is_checked()


def test_data_sets_are_chosen_by_thumbnails(page, tmp_path):
    page.get_by_role("button", name="Data set Spiral").click()
    _wait_url(page, "dataset=spiral")
    spiral = page.get_by_role("button", name="Data set Spiral")
    assert spiral.get_attribute("aria-pressed") == "true"
    good = tmp_path / "three-hundred.csv"
    good.write_text("\n".join(f"{i / 50 - 3},{(i * 7) % 60 / 10 - 3},{i % 2}" for i in range(300)))
    _ctl(page, "Upload CSV").set_input_files(str(good))
    _wait_url(page, "dataset=upload")
    page.get_by_role("button", name="Data set Uploaded CSV").wait_for()
    # the Points box shows the upload's 300 rows (not the 500 of before) and is not an input
    page.wait_for_function("() => document.querySelector('[data-field=points]').value === '300'")
    assert _ctl(page, "Points").is_disabled()


def test_a_link_with_bad_fields_keeps_the_others_and_draws_at_once(browser, url):
    page, errors = _viewport_page(browser, url, 1400, 1000,
                                  "#dataset=xor&hidden=9&lr=0.1&hide=optimizer,bogus")
    _wait_url(page, "dataset=xor")
    assert "lr=0.1&" in _href(page) and _href(page).endswith("hide=optimizer")
    notice = page.get_by_role("status").filter(has_text="not applied")
    notice.get_by_text(re.compile(r"hidden\[0\].*'bogus'|'bogus'.*hidden\[0\]")).wait_for()
    page.wait_for_function("() => window.playground.frames >= 1 && "
                           "window.playground.scalars.changes >= 1")
    assert not _ctl(page, "Optimizer").is_visible()
    assert not _ctl(page, "Momentum β").is_visible() and _ctl(page, "Learning rate").is_visible()
    # the next change of the setup clears it
    _ctl(page, "Activation").select_option("relu")
    page.wait_for_function("() => !document.querySelector('#notices').textContent.includes("
                           "'not applied')")
    page.context.close()
    assert not errors, errors


def test_one_bad_field_alone_is_refused_and_the_page_still_draws(browser, url):
    page, errors = _viewport_page(browser, url, 1400, 1000, "#hidden=9")
    page.get_by_role("alert").get_by_text(re.compile("between 1 and 8")).wait_for()
    page.wait_for_function("() => window.playground.scalars !== undefined")
    page.context.close()
    assert not errors, errors


def test_optimizer_boxes_follow_the_optimizer_and_its_hiding(browser, url):
    page, errors = _viewport_page(browser, url, 1400, 1000, "#optimizer=momentum")
    _wait_url(page, "optimizer=momentum")
    assert _ctl(page, "Momentum β").is_visible()
    assert not page.locator("#newton-note").is_visible()        # Newton's note: Newton only
    _ctl(page, "Optimizer").select_option("newton")
    page.locator("#newton-note").get_by_text("Newton's method").wait_for()
    page.get_by_text("Hide controls").click()
    _ctl(page, "Hide optimizer").check()
    _ctl(page, "Hide upload").check()
    _wait_url(page, "hide=optimizer%2Cupload")
    student = browser.new_context(bypass_csp=True).new_page()
    student.goto(_href(page))
    _wait_frames(student)
    _wait_url(student, "optimizer=newton")
    assert not _ctl(student, "Damping").is_visible()
    assert not student.locator("#newton-note").is_visible()
    assert not student.get_by_text("integer labels classify").is_visible()   # CSV help too
    student.context.close()
    page.context.close()
    assert not errors, errors


def test_the_buttons_stop_at_the_limits_instead_of_errors(browser, url):
    page, errors = _viewport_page(browser, url, 1400, 1000, "#hidden=8%2C1%2C2%2C2%2C2%2C2")
    page.wait_for_function("() => window.playground.shape && window.playground.shape.length === 8")
    assert page.get_by_role("button", name="Add a hidden layer").is_disabled()
    assert page.get_by_role("button", name="Add a neuron to layer 1").is_disabled()
    assert page.get_by_role("button", name="Remove a neuron from layer 2").is_disabled()
    assert page.get_by_role("button", name="Remove a neuron from layer 1").is_enabled()
    page.get_by_role("button", name="Add a hidden layer").click(force=True)
    time.sleep(0.5)
    assert page.get_by_role("alert").text_content() == ""       # no raw protocol error
    page.context.close()
    assert not errors, errors


def test_identical_racers_are_told_apart_and_legends_stay_off_the_curves(browser, url):
    page, errors = _viewport_page(browser, url, 1400, 1000, "#race=sgd:0.03")
    _wait_url(page, "race=sgd%3A0.03")
    assert _ctl(page, "Racer 2 optimizer").input_value() == "sgd"
    page.get_by_role("button", name="Play").click()
    page.wait_for_function("() => window.playground.scalars.step > 50")
    names = page.evaluate("() => window.playground.charts.race.names")
    assert names[1].endswith("(= main)")
    # the legend has a column of its own right of the curves: nothing drawn below its lines
    free = page.evaluate("""() => {
        const c = document.querySelector('#race-chart'), ctx = c.getContext('2d');
        const W = c.width, h = c.height;
        const below = 12 * window.playground.charts.race.names.length + 6;
        const legend = ctx.getImageData(W - 40, below, 40, h - below).data;   // under its lines
        let coloured = 0;
        for (let k = 0; k < legend.length; k += 4) if (legend[k + 3] > 0) coloured++;
        return coloured; }""")
    assert free == 0
    page.context.close()
    assert not errors, errors


def test_a_ten_digit_seed_fits_its_box(page):
    _ctl(page, "Seed").fill("2147483647")
    _ctl(page, "Seed").press("Enter")
    _wait_url(page, "seed=2147483647")
    # the digits' width (the box's own font) plus the spin buttons' 20 px fit inside the box
    room = page.evaluate("""() => { const e = document.querySelector('[data-field=seed]');
        const style = getComputedStyle(e), ctx = document.createElement('canvas').getContext('2d');
        ctx.font = style.font;
        const inner = e.clientWidth - parseFloat(style.paddingLeft)
            - parseFloat(style.paddingRight);
        return inner - 20 - ctx.measureText(e.value).width; }""")
    assert room >= 0


def test_backprop_step_by_step_shows_the_library_s_numbers_on_the_drawing(page):
    from neuralab.playground import backprop
    from neuralab.playground.session import Session

    page.get_by_role("button", name="Step").click()
    page.wait_for_function("() => window.playground.scalars.step > 0")
    page.get_by_text("Backprop, step by step").click()
    _ctl(page, "Example").fill("3")
    page.get_by_role("button", name="Start").click()
    page.locator("#bp-title").get_by_text("The mini-batch").wait_for()
    next_ = page.get_by_role("button", name="Next stage")
    next_.click()
    page.locator("#bp-title").get_by_text("Forward, layer 1").wait_for()
    text = page.locator("#bp-text").text_content()
    assert text.startswith("Z[1] = W[1] A[0] + b[1] = [") and "tanh(Z[1])" in text
    labels = page.locator("#network .bp-value").all_text_contents()
    # the numbers of the same session on the server side: the library's, at the same step
    assert _scalar(page, "step") == 25
    s = Session()
    s.advance(25)
    layer = backprop.step(s, 3)["layers"][0]
    assert labels == [f"z={z:.3f} a={a:.3f}" for z, a in zip(layer["z"], layer["a"], strict=True)]
    while not page.get_by_role("button", name="Next stage").is_disabled():
        next_.click()
    assert page.locator("#bp-title").text_content().endswith("The update")
    assert "W[l] ← W[l] − α dW[l]" in page.locator("#bp-text").text_content()
    page.get_by_role("button", name="Previous stage").click()
    page.locator("#bp-title").get_by_text("Backward, layer 1").wait_for()
    assert "dW[1] = dZ[1] A[0]ᵀ / m" in page.locator("#bp-text").text_content()


def test_the_confusion_matrix_and_regression_scores_are_shown(page):
    page.get_by_role("button", name="Step").click()
    page.wait_for_function("() => window.playground.scalars.step > 0")
    cells = page.locator("#confusion td")
    page.wait_for_function("() => document.querySelectorAll('#confusion td').length === 4")
    counts = [int(c) for c in cells.all_text_contents()]
    assert sum(counts) == 250                                   # the 250 test points
    assert not _ctl(page, "Test R²").is_visible()
    _ctl(page, "Problem type").select_option("regression")
    _wait_url(page, "problem=regression")
    page.get_by_role("button", name="Step").click()
    page.wait_for_function("() => Number.isFinite(window.playground.scalars.test_r2)")
    assert _ctl(page, "Test R²").is_visible() and not page.locator("#confusion").is_visible()
    r2 = float(_ctl(page, "Test R²").text_content())
    assert r2 == pytest.approx(_scalar(page, "test_r2"), abs=5e-4)


def test_play_stops_at_the_chosen_epoch(page):
    _ctl(page, "Stop at epoch").fill("4")
    _ctl(page, "Stop at epoch").press("Enter")
    _wait_url(page, "stopEpoch=4")
    page.get_by_role("button", name="Play").click()
    page.get_by_role("status").get_by_text("stopped at epoch 4").wait_for(timeout=30000)
    page.get_by_role("button", name="Play").wait_for()             # paused again
    assert _ctl(page, "Epoch").text_content() == "4"


def test_a_new_control_is_one_schema_entry(browser, url, monkeypatch):
    from neuralab.playground import protocol

    monkeypatch.setitem(protocol.STATE, "demoKnob", (
        "float", 0.5, (0.0, 2.0), "Demo knob", "view", ("optimizer", ("adam", "adamw"))))
    page, errors = _viewport_page(browser, url, 1400, 1000, "#optimizer=adam")
    _wait_url(page, "optimizer=adam")
    knob = _ctl(page, "Demo knob")
    assert knob.is_visible() and knob.input_value() == "0.5"
    assert knob.get_attribute("max") == "2" and knob.get_attribute("step") == "any"
    knob.fill("1.5")
    knob.press("Enter")
    _wait_url(page, "demoKnob=1.5")
    _ctl(page, "Optimizer").select_option("sgd")
    _wait_url(page, "optimizer=sgd")
    assert not knob.is_visible()                                # its condition, from the entry
    page.context.close()
    assert not errors, errors


def test_the_dark_colour_scheme_is_honoured(browser, url):
    context = browser.new_context(color_scheme="dark", bypass_csp=True)
    page = context.new_page()
    page.goto(url)
    _wait_frames(page)
    rgb = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    channels = [int(v) for v in re.findall(r"\d+", rgb)[:3]]
    assert max(channels) < 60, rgb                              # a dark page, light text
    text = [int(v) for v in re.findall(r"\d+", page.evaluate(
        "() => getComputedStyle(document.body).color"))[:3]]
    assert min(text) > 180
    context.close()


def test_a_click_on_the_plane_adds_a_point_of_the_chosen_class(page):
    _ctl(page, "class 1 (blue)").check()
    box = page.locator("#heatmap").bounding_box()
    page.mouse.click(box["x"] + 0.75 * box["width"], box["y"] + 0.25 * box["height"])
    _wait_url(page, "dataset=upload")
    page.wait_for_function("() => window.playground.points && "
                           "window.playground.points.length === 4 * 501")
    points = page.evaluate("() => Array.from(window.playground.points)")
    added = [points[k:k + 3] for k in range(0, len(points), 4)
             if abs(points[k] - 3) < 0.05 and abs(points[k + 1] - 3) < 0.05]
    assert any(label == 1 for _, _, label in added)            # at (3, 3), class 1
    assert _ctl(page, "Points").input_value() == "501"


def test_two_quick_changes_of_a_racer_both_count(page):
    page.get_by_role("button", name="Add a racer").click()
    _wait_url(page, "race=adam%3A0.01")
    # no wait between them: the second change must not undo the first (a stale row)
    page.evaluate("""() => {
        const opt = document.querySelector('[aria-label="Racer 2 optimizer"]');
        const lr = document.querySelector('[aria-label="Racer 2 learning rate"]');
        opt.value = 'sgd'; opt.dispatchEvent(new Event('change'));
        lr.value = '0.03'; lr.dispatchEvent(new Event('change')); }""")
    _wait_url(page, "race=sgd%3A0.03")


def test_batch_norm_and_dropout_are_switched_from_the_network_panel(page):
    page.locator("[data-field=batchNorm]").check()
    _wait_url(page, "batchNorm=true")
    box = page.locator("[data-field=dropout]")
    box.fill("0.25")
    box.press("Enter")
    _wait_url(page, "dropout=0.25")
    page.get_by_role("button", name="Play").click()
    _wait_frames(page, page.evaluate("() => window.playground.frames") + 5)
    assert _scalar(page, "epoch") >= 0
    assert page.locator("[data-field=batchNorm]").bounding_box()["height"] > 0


def test_the_race_shows_each_run_s_time_per_epoch(page):
    page.get_by_role("button", name="Add a racer").click()
    page.get_by_role("button", name="Play").click()
    times = page.get_by_label("Time per epoch")
    end = time.monotonic() + 20
    while times.text_content().count("ms/epoch") < 2:
        assert time.monotonic() < end, times.text_content()
        time.sleep(0.1)
    assert "main: sgd" in times.text_content() and "racer 2: adam" in times.text_content()


def test_each_hidden_layer_can_have_its_own_activation(page):
    first = page.get_by_label("Activation of layer 1", exact=True)
    first.select_option("relu")
    _wait_url(page, "layerActivations=relu")
    n = len(page.evaluate("() => window.location.hash").split("hidden=")[1].split("&")[0]
            .split("%2C"))
    assert page.locator("#layer-activations select").count() == n     # one per hidden layer
    page.get_by_role("button", name="Play").click()
    _wait_frames(page, page.evaluate("() => window.playground.frames") + 3)
    assert page.get_by_label("Activation of layer 1", exact=True).input_value() == "relu"
