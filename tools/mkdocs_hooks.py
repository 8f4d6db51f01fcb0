"""mkdocs hooks: the pages of the site that are generated from the repository at build time.

* ``index.md`` is README.md, with its links rewritten for the site;
* ``benchmarks.md`` is BENCHMARKS.md;
* ``cli.md`` is the ``--help`` of every ``neuralab`` command, captured from the parser;
* ``gallery.md`` is the lab's registry joined with the recorded results
  (``tools/docs_gallery.py``);
* ``architecture.md`` is a short placeholder only while ``docs/architecture.md`` does not exist;
* the course notebooks are executed (``tools/docs_notebooks.py``) and their pages show the
  executed copies, outputs and figures included; the page's download stays the stored,
  output-free notebook;
* in the rendered notebooks, links to ``NN_name.ipynb`` point to the notebook's page;
* MathJax is served by the site itself (``javascripts/mathjax/``, copied from the
  ``django-static-mathjax`` package of the ``docs`` extra), and the notebook pages lose the
  scripts nbconvert adds from other hosts (its MathJax 2 loader and its Mermaid import), so
  no page needs another host.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import shutil
import sys
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
# the pages describe this checkout's neuralab (as mkdocstrings' `paths: [src]` does)
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tools")]
import docs_gallery  # noqa: E402
import docs_notebooks  # noqa: E402

#: README links to files outside docs/ that the site has as pages.
_SITE_PAGES = {"BENCHMARKS.md": "benchmarks.md"}

#: The commands whose --help the CLI page shows, in order.
_COMMANDS = [[], ["train"], ["evaluate"], ["predict"], ["datasets"], ["lab"], ["lab", "list"],
             ["lab", "run"]]


def _readme() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")

    def link(match):
        target = match.group(2)
        if target.startswith("docs/"):
            target = target.removeprefix("docs/")
        target = _SITE_PAGES.get(target, target)
        return f"{match.group(1)}({target})"

    return re.sub(r"(\[[^\]]*\])\(([^)#\s]+)\)", link, text)


def _help(argv) -> str:
    """The text ``neuralab ARGV --help`` prints, 100 columns wide."""
    from neuralab import cli

    out = io.StringIO()
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"
    try:
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            cli.main([*argv, "--help"])
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old
    return out.getvalue().rstrip()


def cli_page() -> str:
    parts = ["# Command line", "",
             "Generated at build time from the parsers' own `--help` text "
             "(`neuralab COMMAND --help` prints the same). Exit status: 0 ok, 1 runtime "
             "error, 2 bad input or usage, 3 training diverged.", ""]
    for argv in _COMMANDS:
        name = " ".join(["neuralab", *argv])
        text = _help(argv)
        if not text:
            raise RuntimeError(f"`{name} --help` printed nothing")
        parts += [f"## `{name}`", "", "```text", text, "```", ""]
    return "\n".join(parts)


_ARCHITECTURE_PLACEHOLDER = """# Architecture

The architecture page (`docs/architecture.md`) is being written by the core team. Until it
lands, the design contract is summarized in the [README](index.md) and the
[API reference](api/index.md).
"""


#: Where the site serves MathJax from (mkdocs.yml's extra_javascript names the script).
MATHJAX_DIR = "javascripts/mathjax"
#: What of MathJax's ``es5`` folder the site ships: the TeX→HTML component (the pages' math is
#: all TeX), its fonts, the TeX extensions it loads on demand, and the accessibility parts its
#: menu can turn on.
_MATHJAX_PARTS = ["tex-chtml.js", "output/chtml/fonts/woff-v2", "input/tex/extensions",
                  "a11y", "ui", "sre"]


def _mathjax_root() -> Path:
    spec = importlib.util.find_spec("mathjax")
    root = (Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax"
            if spec and spec.submodule_search_locations else None)
    if root is None or not (root / "es5" / "tex-chtml.js").is_file():
        raise RuntimeError("MathJax is missing: the site serves it from the django-static-mathjax "
                           "package (pip install -e '.[docs]')")
    return root


def mathjax_files(config) -> list[File]:
    """MathJax's files, as the site's ``javascripts/mathjax/...`` (and its license)."""
    root = _mathjax_root()
    es5 = root / "es5"
    paths = []
    for part in _MATHJAX_PARTS:
        path = es5 / part
        paths += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    out = [File(p.relative_to(es5).as_posix(), src_dir=str(es5), dest_dir=config["site_dir"],
                use_directory_urls=config["use_directory_urls"],
                dest_uri=f"{MATHJAX_DIR}/{p.relative_to(es5).as_posix()}") for p in paths]
    out.append(File("LICENSE", src_dir=str(root), dest_dir=config["site_dir"],
                    use_directory_urls=config["use_directory_urls"],
                    dest_uri=f"{MATHJAX_DIR}/LICENSE"))
    return out


#: {site path of a notebook's download: the stored notebook}, set by on_files.
_DOWNLOADS: dict[str, Path] = {}


@event_priority(-50)      # after mkdocs-jupyter has taken the notebooks as pages
def on_files(files, config):
    generated = {
        "index.md": _readme(),
        "benchmarks.md": (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8"),
        "cli.md": cli_page(),
        "gallery.md": docs_gallery.page(),
    }
    if files.get_file_from_path("architecture.md") is None:
        generated["architecture.md"] = _ARCHITECTURE_PLACEHOLDER
    for src_uri, content in generated.items():
        if files.get_file_from_path(src_uri) is not None:
            raise RuntimeError(f"docs/{src_uri} exists but the site generates it; remove it")
        files.append(File.generated(config, src_uri, content=content))
    for file in mathjax_files(config):
        files.append(file)
    notebooks = [f for f in files if f.src_uri.endswith(".ipynb")]
    executed = docs_notebooks.executed([Path(f.abs_src_path) for f in notebooks])
    _DOWNLOADS.clear()
    for f in notebooks:
        stored = Path(f.abs_src_path)
        f.abs_src_path = str(executed[stored])       # what mkdocs-jupyter renders
        _DOWNLOADS[str(Path(f.abs_dest_path).parent / stored.name)] = stored
    return files


_NOTEBOOK_LINK = re.compile(r'href="(\d\d_[A-Za-z0-9_]+)\.ipynb"')


#: What nbconvert's template adds to a notebook page that would load from another host: its
#: MathJax 2 settings and loader (the site's own MathJax 3 typesets the page) and its Mermaid
#: import (the course has no diagrams).
_FOREIGN_SCRIPTS = [
    re.compile(r'<script type="text/x-mathjax-config">.*?</script>', re.DOTALL),
    re.compile(r'<script src="(?:https?:)?(?://[^"]*)?"[^>]*>\s*</script>'),
    re.compile(r'<script type="module">(?:(?!</script>).)*?mermaid.*?</script>', re.DOTALL),
]


def on_page_content(html, page, config, files):
    if page.file.src_uri.endswith(".ipynb"):
        for script in _FOREIGN_SCRIPTS:
            html = script.sub("", html)
        return _NOTEBOOK_LINK.sub(r'href="../\1/"', html)
    return html


def on_post_build(config):
    # the page's "download" is the notebook as stored (no outputs), not the executed copy
    for target, stored in _DOWNLOADS.items():
        if Path(target).parent.is_dir():
            shutil.copyfile(stored, target)
