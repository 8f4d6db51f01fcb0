"""The HTML page that gathers the experiments in the lecture's order."""

from __future__ import annotations

import html
import os
from pathlib import Path

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1150px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; }
nav ol { columns: 2; }
section { border-top: 1px solid #ccc; padding-top: 1em; margin-top: 2em; }
.claim { font-style: italic; }
.conclusion { font-weight: 600; padding: 0.5em 0.8em; border-left: 4px solid; }
.ok { border-color: #2ca02c; background: #f0fff0; }
.bad { border-color: #d62728; background: #fff0f0; }
img { max-width: 100%; border: 1px solid #eee; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
td, th { border: 1px solid #ddd; padding: 0.2em 0.6em; text-align: right; }
th { background: #f6f6f6; }
td:first-child, th:first-child { text-align: left; }
details { margin: 0.6em 0; }
"""


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


def _table(numbers: dict) -> str:
    """Scalars as a two-column table; a group of same-keyed dicts as one wide table."""
    scalars = {k: v for k, v in numbers.items() if not isinstance(v, dict)}
    groups = {k: v for k, v in numbers.items() if isinstance(v, dict)}
    parts = []
    if scalars:
        rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(_fmt(v))}</td></tr>"
                       for k, v in scalars.items())
        parts.append(f"<table><tr><th>quantity</th><th>value</th></tr>{rows}</table>")
    flat = {k: v for k, v in groups.items() if not any(isinstance(x, dict) for x in v.values())}
    if flat:
        cols = list(dict.fromkeys(c for row in flat.values() for c in row))
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
        body = "".join(
            "<tr><td>" + html.escape(str(k)) + "</td>"
            + "".join(f"<td>{html.escape(_fmt(row.get(c, '')))}</td>" for c in cols) + "</tr>"
            for k, row in flat.items())
        parts.append(f"<table><tr><th></th>{head}</tr>{body}</table>")
    for k, v in groups.items():
        if k not in flat:
            parts.append(f"<p><b>{html.escape(str(k))}</b></p>{_table(v)}")
    return "".join(parts)


def render(results, out_dir: Path | None = None) -> str:
    """The page as a string; figure links are relative to ``out_dir``."""
    toc = "".join(f'<li><a href="#{r.name}">{html.escape(r.title)}</a></li>' for r in results)
    sections = []
    for i, r in enumerate(results, 1):
        fig = ""
        if r.figure is not None:
            src = Path(r.figure)
            if out_dir is not None:
                src = Path(os.path.relpath(src, out_dir))
            fig = f'<p><img src="{html.escape(src.as_posix())}" alt="{html.escape(r.title)}"></p>'
        verdict = "ok" if r.passed else "bad"
        mark = "measured: supports the claim" if r.passed else "measured: does NOT support it"
        sections.append(
            f'<section id="{r.name}"><h2>{i}. {html.escape(r.title)} '
            f'<small><code>{r.name}</code></small></h2>'
            f'<p class="claim">Claim: {html.escape(r.claim)}</p>{fig}'
            f'<p class="conclusion {verdict}">{html.escape(r.conclusion)} <small>({mark}; '
            f'{r.seconds:.1f} s)</small></p>'
            f"<details open><summary>Numbers</summary>{_table(r.numbers)}</details></section>")
    n_ok = sum(r.passed for r in results)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>neuralab lab</title><style>{_CSS}</style></head><body>"
        "<h1>neuralab lab: the lecture, measured</h1>"
        f"<p>{len(results)} experiments, {n_ok} supporting their claim; total "
        f"{sum(r.seconds for r in results):.0f} s. Re-run with "
        "<code>neuralab lab run all --out DIR</code>.</p>"
        f"<nav><ol>{toc}</ol></nav>{''.join(sections)}</body></html>")


def write_index(results, path: str | Path) -> Path:
    """Write the page for ``results`` to ``path`` (figures linked relative to it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(results, path.parent), encoding="utf-8")
    return path
