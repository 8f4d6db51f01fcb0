"""The documentation site: ``mkdocs build --strict`` passes, and its generated pages hold.

The build fails on a broken link, a cross-reference without a target, a nav entry without a
page or a docstring griffe cannot parse. The other tests check the pieces the build generates:
the reST-to-Markdown docstring rewrite, the lab gallery and its recorded results, the CLI page.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import neuralab.lab as lab

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import docs_gallery  # noqa: E402
from griffe_rst import to_markdown  # noqa: E402

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
    assert to_markdown(text) == (
        "[`History`][neuralab.train.History] and [`neuralab.fit`][neuralab.fit], `step`, "
        "`neuralab._fastpath`, [`the history`][neuralab.train.History], $\\alpha_t$")


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


# ---------------------------------------------------------------------------- the build
@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"),
                                          *filter(None, [os.environ.get("PYTHONPATH")])])}
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                          str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
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
    assert 'href="#neuralab.callbacks.ReduceLROnPlateau"' in training    # from fit's docstring
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
