"""mkdocs hooks: the pages of the site that are generated from the repository at build time.

* ``index.md`` is README.md, with its links rewritten for the site;
* ``benchmarks.md`` is BENCHMARKS.md;
* ``cli.md`` is the ``--help`` of every ``neuralab`` command, captured from the parser;
* ``gallery.md`` is the lab's registry joined with the recorded results
  (``tools/docs_gallery.py``);
* ``architecture.md`` is a short placeholder only while ``docs/architecture.md`` does not exist;
* in the rendered notebooks, links to ``NN_name.ipynb`` point to the notebook's page.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
# the pages describe this checkout's neuralab (as mkdocstrings' `paths: [src]` does)
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tools")]
import docs_gallery  # noqa: E402

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
    return files


_NOTEBOOK_LINK = re.compile(r'href="(\d\d_[A-Za-z0-9_]+)\.ipynb"')


def on_page_content(html, page, config, files):
    if page.file.src_uri.endswith(".ipynb"):
        return _NOTEBOOK_LINK.sub(r'href="../\1/"', html)
    return html
