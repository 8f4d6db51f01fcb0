"""The documentation site: ``mkdocs build --strict`` passes, and its generated pages hold.

The build fails on a broken link, a cross-reference without a target, a nav entry without a
page, a docstring griffe cannot parse or a course notebook that raises (the build executes
them). The other tests check the pieces the build generates: the reST-to-Markdown docstring
rewrite, the lab gallery and its recorded results, the CLI page, the executed notebooks.

The last tests open the built site, served on 127.0.0.1, in headless Chromium (Debian's
package, driven by Playwright) with every request to another host blocked, as a reader
offline would: every page loads nothing from elsewhere, the notebook pages show their outputs
and figures, and the formulas are typeset by the site's own MathJax (no raw LaTeX left).
They skip with the reason when Playwright or /usr/bin/chromium is missing, unless
NEURALAB_REQUIRE_BROWSER=1 (set by .ci/run). Screenshots go to tests/artifacts/docs-*.png.
"""

import functools
import http.server
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import neuralab.lab as lab

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import docs_gallery  # noqa: E402
import docs_notebooks  # noqa: E402
from griffe_rst import to_markdown  # noqa: E402

from _browser import ARTIFACTS, CHROMIUM, missing  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------- docstrings
def test_math_directive_becomes_a_display_block():
    text = "Rule\n\n.. math::\n\n    a = b \\\\\n    c = d\n\nwhere a is ``lr``."
    assert to_markdown(text) == ("Rule\n\n$$\n\\begin{gathered}\na = b \\\\\nc = d\n"
                                 "\\end{gathered}\n$$\n\nwhere a is ``lr``.")
    indented = "Returns\n    text\n\n    .. math::\n\n        x^2\n    more"
    assert to_markdown(indented) == "Returns\n    text\n\n    $$\n    x^2\n    $$\n\n    more"


def test_roles_become_links_or_code_and_inline_math_dollars():
    text = (":class:`~neuralab.train.History` and :func:`neuralab.fit`, :meth:`step`, "
            ":mod:`neuralab._fastpath`, :class:`the history <neuralab.train.History>`, "
            ":math:`\\alpha_t`")
    assert to_markdown(text) == (       # a flat path of earlier releases links to its home
        "[`History`][neuralab.training.train.History] and [`neuralab.fit`][neuralab.fit], "
        "`step`, `neuralab._fastpath`, [`the history`][neuralab.training.train.History], "
        "$\\alpha_t$")
    assert to_markdown(":class:`neuralab.nn.layers.Dense`") == (
        "[`neuralab.nn.layers.Dense`][neuralab.nn.layers.Dense]")


def test_simple_table_becomes_a_markdown_table():
    text = ("Rules:\n\n====  ==========  ====\nname  rule        twin\n====  ==========  ====\n"
            "SGD   θ ← θ − αg  ``SGD(lr)``\nAdam  a|b         x\n====  ==========  ====\n\nEnd")
    assert to_markdown(text) == ("Rules:\n\n| name | rule | twin |\n|---|---|---|\n"
                                 "| SGD | θ ← θ − αg | ``SGD(lr)`` |\n| Adam | a\\|b | x |\n\nEnd")


def test_doctests_are_fenced_outside_examples_only():
    text = "Intro\n\n>>> f(x)[:3]\n[1, 2]\n\nExamples\n--------\n>>> g()\n1"
    assert to_markdown(text) == ("Intro\n\n```pycon\n>>> f(x)[:3]\n[1, 2]\n```\n\nExamples\n"
                                 "--------\n>>> g()\n1")


# ---------------------------------------------------------------------------- the gallery
def test_recorded_results_cover_the_lab_registry():
    data = json.loads(docs_gallery.RESULTS.read_text(encoding="utf-8"))
    names = [e["name"] for e in data["experiments"]]
    assert names == list(lab.EXPERIMENTS), "re-run: python tools/docs_gallery.py record"
    for e in data["experiments"]:
        figure = docs_gallery.GALLERY / e["figure"]
        assert figure.read_bytes()[:8] == PNG and figure.stat().st_size < 250_000
        assert e["conclusion"] and e["numbers"] and isinstance(e["passed"], bool)
    rec = data["recorded"]
    assert rec["command"] == docs_gallery.COMMAND and rec["date"] and rec["commit"]
    assert len(rec["lab_fingerprint"]) == 16


def test_gallery_page_joins_registry_claims_with_recorded_numbers():
    text = docs_gallery.page()
    data = json.loads(docs_gallery.RESULTS.read_text(encoding="utf-8"))
    for i, (name, fn) in enumerate(lab.EXPERIMENTS.items(), 1):
        assert f"## {i}. {fn.title}" in text and fn.claim in text
        assert f"(gallery/{name}.png)" in text
    for e in data["experiments"]:
        assert e["conclusion"] in text
    assert f"recorded by `{docs_gallery.COMMAND}`" in text
    assert data["recorded"]["date"] in text and data["recorded"]["commit"] in text


def test_gallery_page_warns_when_stale_or_incomplete(tmp_path):
    data = json.loads(docs_gallery.RESULTS.read_text(encoding="utf-8"))
    data["recorded"]["lab_fingerprint"] = "0" * 16
    dropped = data["experiments"].pop()
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    text = docs_gallery.page(path)
    assert "The lab has changed since this recording" in text
    assert f"No recorded result for: {dropped['name']}" in text
    data["recorded"]["lab_fingerprint"] = docs_gallery.lab_fingerprint()
    path.write_text(json.dumps(data), encoding="utf-8")
    assert "has changed" not in docs_gallery.page(path)
    assert "Not recorded" in docs_gallery.page(tmp_path / "missing.json")


def test_numbers_table_renders_scalars_and_nested_groups():
    table = docs_gallery._numbers_table({"steps": 3, "error": 1.23456e-9,
                                         "digits": {"raw": 0.97, "features": 0.8},
                                         "iris": {"raw": 1.0, "features": 0.97}})
    assert "| steps | 3 |" in table and "| error | 1.235e-09 |" in table
    assert "| | raw | features |" in table and "| iris | 1 | 0.97 |" in table


# ---------------------------------------------------------------------------- executed notebooks
def _notebook(path, *sources):
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)
    return path


def test_executed_notebook_has_outputs_and_is_cached(tmp_path):
    import nbformat

    stored = _notebook(tmp_path / "01_demo.ipynb", "import neuralab as nl\nprint(6 * 7)")
    before = stored.read_bytes()
    cache = tmp_path / "cache"
    first = docs_notebooks.executed([stored], cache)[stored]
    assert first.name == stored.name and stored.read_bytes() == before
    nb = nbformat.read(first, as_version=4)
    assert nb.cells[0].outputs[0].text == "42\n"
    stamp = first.stat().st_mtime_ns
    assert docs_notebooks.executed([stored], cache)[stored] == first       # from the cache
    assert first.stat().st_mtime_ns == stamp
    _notebook(stored, "print(1)")                                           # edited: runs again
    second = docs_notebooks.executed([stored], cache)[stored]
    assert second != first and not first.exists()
    assert nbformat.read(second, as_version=4).cells[0].outputs[0].text == "1\n"


def test_a_notebook_that_raises_fails_the_build(tmp_path):
    stored = _notebook(tmp_path / "02_broken.ipynb", "x = 1", "assert x == 2, 'exercise check'")
    message = r"(?s)02_broken.ipynb failed.*AssertionError: exercise check"
    with pytest.raises(docs_notebooks.NotebookFailed, match=message):
        docs_notebooks.executed([stored], tmp_path / "cache")
    assert not list((tmp_path / "cache").rglob("*.ipynb"))


def test_the_playground_cell_runs_headless_and_leaves_no_process(tmp_path):
    # notebook 3 ends with nl.playground.show(): a server in the kernel, gone with the kernel
    pytest.importorskip("uvicorn")
    psutil = pytest.importorskip("psutil")

    def kernels():
        return [p.pid for p in psutil.Process().children(recursive=True)
                if "ipykernel" in " ".join(p.cmdline())]

    stored = _notebook(tmp_path / "03_play.ipynb", "import neuralab as nl\n"
                       "nl.playground.show({'dataset': 'xor'})")
    before = kernels()
    executed = docs_notebooks.executed([stored], tmp_path / "cache")[stored]
    text = executed.read_text(encoding="utf-8")
    assert "The playground runs in the notebook" in text and "<iframe" not in text
    assert kernels() == before


def test_progress_bar_widgets_become_their_final_text():
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("fit(...)")])
    view = "application/vnd.jupyter.widget-view+json"
    nb.cells[0].outputs = [
        nbformat.v4.new_output("display_data", data={view: {"model_id": f"box{i}"},
                                                     "text/plain": "epoch 0%"})
        for i in (1, 2)] + [nbformat.v4.new_output("stream", name="stdout", text="done\n")]
    state = {}
    for i, frac in ((1, 40), (2, 20)):
        state[f"box{i}"] = {"model_name": "HBoxModel", "state": {"children": [
            f"IPY_MODEL_l{i}", f"IPY_MODEL_p{i}", f"IPY_MODEL_r{i}"]}}
        state[f"l{i}"] = {"model_name": "HTMLModel",
                          "state": {"value": f"epoch\u2007{i}/2:\u2007{frac * 5 // 2}%"}}
        state[f"p{i}"] = {"model_name": "FloatProgressModel",
                          "state": {"value": frac, "min": 0, "max": 40}}
        state[f"r{i}"] = {"model_name": "HTMLModel",
                          "state": {"value": f"\u2007{frac}/40\u2007[00:01&lt;00:00]"}}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": state}}
    docs_notebooks.without_widgets(nb)
    assert "widgets" not in nb.metadata
    outputs = nb.cells[0].outputs
    assert [o.output_type for o in outputs] == ["stream", "stream"]
    assert outputs[0].text == ("epoch 1/2: 100%|██████████|40/40 [00:01<00:00]\n"
                               "epoch 2/2: 50%|█████     |20/40 [00:01<00:00]\n")
    assert outputs[1].text == "done\n"


def test_the_playground_frame_becomes_a_note_and_other_html_stays():
    import nbformat

    frame = '<iframe width="100%" height="880" src="http://127.0.0.1:41234/#dataset=xor">'
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("show()")])
    nb.cells[0].outputs = [
        nbformat.v4.new_output("execute_result", data={"text/html": frame, "text/plain": "IF"}),
        nbformat.v4.new_output("display_data", data={"text/html": "<table></table>"})]
    docs_notebooks.without_local_frames(nb)
    first, second = nb.cells[0].outputs
    assert first.data["text/html"] == docs_notebooks.PLAYGROUND_NOTE
    assert "127.0.0.1" not in str(first) and second.data["text/html"] == "<table></table>"


# ---------------------------------------------------------------------------- the build
@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"),
                                          *filter(None, [os.environ.get("PYTHONPATH")])])}
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                          str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-6000:]
    return out


def test_site_builds_strictly_with_every_page(site):
    for page in ["index.html", "course/index.html", "lecture/index.html", "gallery/index.html",
                 "cli/index.html", "benchmarks/index.html", "architecture/index.html",
                 "api/optim/index.html", "notebooks/08_end_to_end/index.html"]:
        assert (site / page).is_file(), page
    assert (site / "notebooks/01_why_learned_features/01_why_learned_features.ipynb").is_file()


def test_site_renders_docstring_math_tables_and_cross_references(site):
    optim = (site / "api/optim/index.html").read_text(encoding="utf-8")
    assert optim.count('class="arithmatex"') >= 5        # math blocks of the update rules
    assert "<table>" in optim and ".. math::" not in optim and ":math:`" not in optim
    training = (site / "api/training/index.html").read_text(encoding="utf-8")
    # from fit's docstring
    assert 'href="#neuralab.training.callbacks.ReduceLROnPlateau"' in training
    assert "LivePlot" in training and ":class:`" not in training


def test_site_cli_page_is_the_parsers_help(site):
    page = (site / "cli/index.html").read_text(encoding="utf-8")
    for command in ("train", "evaluate", "predict", "datasets", "lab run"):
        assert f"usage: neuralab {command}" in page
    assert "--checkpoint-every" in page


def test_site_notebook_links_point_to_pages(site):
    page = (site / "notebooks/01_why_learned_features/index.html").read_text(encoding="utf-8")
    assert 'href="../02_logistic_regression/"' in page
    assert 'href="02_logistic_regression.ipynb"' not in page


def test_site_notebook_pages_are_executed_with_figures(site):
    notebooks = sorted((ROOT / "docs" / "notebooks").glob("*.ipynb"))
    assert len(notebooks) == 8
    for path in notebooks:
        page = (site / "notebooks" / path.stem / "index.html").read_text(encoding="utf-8")
        assert "jp-OutputArea-output" in page, f"{path.stem}: no outputs"
        assert not re.search(r"In[\s\xa0]\[[\s\xa0]*\]:", page), f"{path.stem}: a cell did not run"
        if path.stem not in NO_FIGURE:
            figure = re.search(r'<img [^>]*src="data:image/png;base64,', page)
            assert figure, f"{path.stem}: no figure"
        # the download is the stored notebook, without outputs
        download = site / "notebooks" / path.stem / path.name
        assert download.read_bytes() == path.read_bytes()
    backprop = (site / "notebooks/05_backpropagation/index.html").read_text(encoding="utf-8")
    assert "max difference" in backprop and "total relative error" in backprop


def test_site_notebook_playground_frame_becomes_a_note(site):
    page = (site / "notebooks/03_one_neuron_to_many/index.html").read_text(encoding="utf-8")
    assert "The playground runs in the notebook" in page
    assert "<iframe" not in page and "127.0.0.1" not in page


def test_site_references_no_other_host_for_what_a_browser_loads(site):
    fetched = re.compile(r"<(?:script|link|img|iframe|source|embed|object|audio|video)\b[^>]*"
                         r"\b(?:src|href|data)=\"((?:https?:)?//[^\"]*)\"", re.IGNORECASE)
    css_url = re.compile(r"url\(\s*[\"']?((?:https?:)?//[^)\"']*)", re.IGNORECASE)
    found = {}
    for path in site.rglob("*"):
        if path.suffix in (".html", ".css"):
            text = path.read_text(encoding="utf-8", errors="replace")
            for url in fetched.findall(text) + css_url.findall(text):
                found.setdefault(url, str(path.relative_to(site)))
    assert not found, found
    assert (site / "javascripts/mathjax/tex-chtml.js").is_file()
    assert list((site / "javascripts/mathjax/output/chtml/fonts/woff-v2").glob("*.woff"))


# ---------------------------------------------------------------------------- in a browser
#: Course notebooks that have no plotting cell yet (their pages are still checked for outputs).
NO_FIGURE: set[str] = set()
SIZES = {"desktop": (1440, 900), "phone": (390, 844)}


def _browser_missing():
    return missing()


@pytest.fixture(scope="module")
def served(site):
    """The built site over HTTP on 127.0.0.1 (a free port), as a reader's browser gets it."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join(10)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def offline(served):
    """(new_page, log): Chromium pages that may load only from the served site; every request
    to another host is aborted and logged in log["foreign"], and local failures in
    log["failed"]."""
    reason = _browser_missing()
    if reason:
        if os.environ.get("NEURALAB_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests required (NEURALAB_REQUIRE_BROWSER=1) but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    origin = urlsplit(served).netloc
    log = {"foreign": [], "failed": [], "errors": []}

    def route(r):
        url = urlsplit(r.request.url)
        if url.scheme in ("data", "blob") or url.netloc == origin:
            r.continue_()
        else:
            log["foreign"].append(r.request.url)
            r.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        contexts = []

        def new_page(path, size="desktop"):
            width, height = SIZES[size]
            context = browser.new_context(viewport={"width": width, "height": height})
            contexts.append(context)
            context.route("**/*", route)
            page = context.new_page()
            page.on("requestfailed", lambda q: log["failed"].append(
                (q.url, q.failure)) if urlsplit(q.url).netloc == origin else None)
            page.on("response", lambda r: log["failed"].append((r.url, r.status))
                    if r.status >= 400 else None)
            page.on("pageerror", lambda e: log["errors"].append((path, str(e))))
            page.goto(served + path, wait_until="load")
            # MathJax (the site's own copy) has loaded and typeset the page
            page.wait_for_function("() => window.MathJax && MathJax.startup &&"
                                   " MathJax.startup.promise", timeout=20_000)
            page.evaluate("() => MathJax.startup.promise")
            page.evaluate("() => document.fonts.ready.then(() => true)")   # its web fonts
            return page

        yield new_page, log
        for context in contexts:
            context.close()
        browser.close()


def _raw_latex(page):
    """Pieces of TeX a reader would see as text (outside code blocks)."""
    return page.evaluate(r"""() => {
        const main = document.querySelector("article") || document.body;
        const copy = main.cloneNode(true);
        copy.querySelectorAll("pre, code, script, style, mjx-container, .jp-InputArea")
            .forEach(e => e.remove());
        const text = copy.textContent;
        return ["$$", "\\begin", "\\frac", "\\hat", "\\odot", "\\sum", "\\(", "\\["]
            .filter(t => text.includes(t));
    }""")


def _blank_glyphs(page):
    """Characters of typeset formulas that draw nothing (MathJax's CSS rule for the glyph is
    missing, so the formula shows as an empty gap)."""
    return page.evaluate(r"""() => [...document.querySelectorAll("mjx-container mjx-c")]
        .filter(c => !c.closest("mjx-assistive-mml"))
        .filter(c => ["none", "normal", ""].includes(getComputedStyle(c, "::before").content)
                     && !c.textContent)
        .map(c => c.className).slice(0, 5)""")


def _cut_formulas(page):
    """Display formulas wider than the text column that are cut off rather than scrollable."""
    return page.evaluate(r"""() => {
        const column = (document.querySelector("article") || document.body).getBoundingClientRect();
        return [...document.querySelectorAll("mjx-container[display='true']")].filter(c => {
            const math = c.firstElementChild.getBoundingClientRect();
            if (math.right <= column.right + 1 && math.left >= column.left - 1) return false;
            for (let e = c; e && e !== document.body; e = e.parentElement) {
                const o = getComputedStyle(e).overflowX;
                if ((o === "auto" || o === "scroll") && e.scrollWidth > e.clientWidth) return false;
            }
            return true;
        }).map(c => c.textContent.slice(0, 60));
    }""")


def _shoot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"docs-{name}.png"
    page.screenshot(path=str(path))
    print(f"screenshot: {path}")


@pytest.mark.parametrize("path, least", [("notebooks/05_backpropagation/", 8),
                                         ("api/optim/", 10)])
def test_formulas_render_offline_without_raw_latex(offline, path, least):
    new_page, log = offline
    name = path.strip("/").replace("/", "-")
    for size in SIZES:
        page = new_page(path, size)
        rendered = page.locator("mjx-container").count()
        assert rendered >= least, f"{path}: {rendered} formulas typeset"
        assert page.locator("mjx-merror, merror").count() == 0, f"{path}: a TeX error"
        assert _raw_latex(page) == [], f"{path}: raw LaTeX visible"
        # a display formula really has a size (fonts loaded, not an empty box)
        display = page.locator("mjx-container[display='true']").first
        box = display.bounding_box()
        assert box and box["width"] > 50 and box["height"] > 15, box
        assert _blank_glyphs(page) == [], f"{path} ({size}): formulas drawn blank"
        assert _cut_formulas(page) == [], f"{path} ({size}): formulas cut off"
        display.scroll_into_view_if_needed()
        _shoot(page, f"{name}-{size}")
    assert log["foreign"] == [] and log["failed"] == [], log


def test_notebook_pages_show_outputs_and_figures_offline(offline):
    new_page, log = offline
    for path in sorted((ROOT / "docs" / "notebooks").glob("*.ipynb")):
        page = new_page(f"notebooks/{path.stem}/")
        outputs = page.locator(".jp-OutputArea-output")
        assert outputs.count() >= 1 and outputs.first.is_visible(), path.stem
        prompts = page.locator(".jp-InputPrompt").all_text_contents()
        assert prompts and all("[ ]" not in p.replace("\xa0", " ") for p in prompts), path.stem
        figures = page.locator(".jp-OutputArea-output img")
        if path.stem not in NO_FIGURE:
            assert figures.count() >= 1, f"{path.stem}: no figure"
            figure = figures.first
            figure.scroll_into_view_if_needed()
            assert page.evaluate("img => img.complete && img.naturalWidth > 100",
                                 figure.element_handle()), f"{path.stem}: figure not drawn"
        assert _raw_latex(page) == [], f"{path.stem}: raw LaTeX visible"
        # a table's visible width: the narrowest of it and the boxes around it in the output
        squeezed = page.evaluate("""() => [...document.querySelectorAll(
            ".jp-OutputArea-output table")].filter(t => {
                if (!t.checkVisibility()) return false;      // folded away (details)
                let width = t.getBoundingClientRect().width;
                for (let e = t.parentElement; e && !e.classList.contains(
                        "jp-OutputArea-output"); e = e.parentElement)
                    width = Math.min(width, e.getBoundingClientRect().width);
                return width < 50;
            }).map(t => t.textContent.trim().slice(0, 40))""")
        assert squeezed == [], f"{path.stem}: output tables drawn without width"
        if path.stem == "07_optimizers":
            figures.first.scroll_into_view_if_needed()
            _shoot(page, "notebook-figure-desktop")
        page.context.close()
    assert log["foreign"] == [] and log["failed"] == [], log


def test_no_page_requests_another_host(offline, site):
    new_page, log = offline
    pages = sorted(p.parent.relative_to(site).as_posix() + "/"
                   for p in site.rglob("index.html"))
    assert len(pages) >= 25
    for path in pages:
        new_page("" if path == "./" else path).context.close()
    assert log["foreign"] == [], log["foreign"]
    assert log["failed"] == [], log["failed"]
    assert log["errors"] == [], log["errors"]


def test_the_widget_s_text_is_what_the_docs_build_recognizes():
    pytest.importorskip("anywidget")
    from neuralab.playground import widget

    assert widget.TEXT.startswith(docs_notebooks.PLAYGROUND_TEXT)
