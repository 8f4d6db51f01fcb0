"""A griffe extension for the documentation site: neuralab's reST docstring markup as Markdown.

neuralab's docstrings are numpydoc with a little reStructuredText: ``.. math::`` blocks,
``:math:`` and cross-reference roles (``:class:``, ``:func:``...) and simple tables. mkdocstrings
renders docstrings as Markdown, so before rendering each docstring is rewritten:

* ``.. math::`` + indented block  ->  ``$$ ... $$`` (several lines joined by ``\\`` are set in
  a ``gathered`` environment, as Sphinx sets them in ``split``), rendered by MathJax through
  ``pymdownx.arithmatex``;
* ``:math:`x```  ->  ``$x$``;
* ``:class:`~neuralab.train.History``` and friends  ->  a cross-reference link to the object's
  entry in the API reference (``mkdocs build --strict`` fails if it has none); a flat path of
  earlier releases (``neuralab.train``) links to its module's home (``neuralab.training.train``,
  from the package's ``_MOVED`` table); a name without a dot (relative to the current class)
  becomes inline code;
* a reST simple table (rows between ``=====  =====`` rules)  ->  a Markdown table;
* a ``>>>`` block outside an Examples section  ->  a fenced ``pycon`` block (griffe already
  fences those inside one).

The source docstrings are not changed. Used by ``mkdocs.yml`` (``extensions:`` of the python
handler).
"""

from __future__ import annotations

import ast
import pathlib
import re

import griffe

_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|obj|exc):`([^`]+)`")
_MATH = re.compile(r":math:`([^`]+)`")
_DIRECTIVE = re.compile(r"^(\s*)\.\. math::\s*(.*)$")
_RULE = re.compile(r"^\s*=+(?: +=+)+\s*$")


def _moved() -> dict[str, str]:
    """The package's table of old flat module paths -> new homes, read from its source (as
    griffe reads the package: statically)."""
    init = pathlib.Path(__file__).resolve().parents[1] / "src" / "neuralab" / "__init__.py"
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "_MOVED":
            return ast.literal_eval(node.value)
    raise LookupError(f"no _MOVED table in {init}")


_MOVED = _moved()


def _home(target: str) -> str:
    """``neuralab.losses.MSE`` -> ``neuralab.nn.losses.MSE``; other paths unchanged."""
    parts = target.split(".")
    if len(parts) > 1 and parts[0] == "neuralab" and parts[1] in _MOVED:
        return ".".join(["neuralab", _MOVED[parts[1]], *parts[2:]])
    return target


def _role(match: re.Match) -> str:
    text = match.group(1)
    titled = re.fullmatch(r"(.+?)\s*<(.+)>", text)
    title, target = (titled.group(1), titled.group(2)) if titled else (None, text)
    short = target.startswith("~")
    target = target.lstrip("~").removesuffix("()")
    shown = title or (target.rsplit(".", 1)[-1] if short else target)
    private = any(part.startswith("_") for part in target.split("."))
    if target.startswith("neuralab.") and not private:
        return f"[`{shown}`][{_home(target)}]"
    return f"`{shown}`"


def _math_blocks(lines: list[str]) -> list[str]:
    out, i = [], 0
    while i < len(lines):
        match = _DIRECTIVE.match(lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        indent, body = match.group(1), [match.group(2)] if match.group(2) else []
        i += 1
        while i < len(lines) and (not lines[i].strip()
                                  or len(lines[i]) - len(lines[i].lstrip()) > len(indent)):
            body.append(lines[i].strip())
            i += 1
        while body and not body[-1]:
            body.pop()
        tex = "\n".join(line for line in body if line)
        if "\\\\" in tex:
            tex = "\\begin{gathered}\n" + tex + "\n\\end{gathered}"
        out += [f"{indent}$$", *(indent + t for t in tex.splitlines()), f"{indent}$$"]
        if i < len(lines) and lines[i].strip():
            out.append("")
    return out


def _table(rows: list[str], spans: list[tuple[int, int]], indent: str) -> list[str]:
    def cells(line):
        parts = [line[a:b] if k < len(spans) - 1 else line[a:]
                 for k, (a, b) in enumerate(spans)]
        return [p.strip().replace("|", "\\|") for p in parts]

    body = [cells(r) for r in rows]
    header, rest = body[0], body[1:]
    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    md += ["| " + " | ".join(r) + " |" for r in rest]
    return [indent + line for line in md]


def _simple_tables(lines: list[str]) -> list[str]:
    out, i = [], 0
    while i < len(lines):
        if not _RULE.match(lines[i]):
            out.append(lines[i])
            i += 1
            continue
        rule = lines[i]
        indent = rule[:len(rule) - len(rule.lstrip())]
        spans = [m.span() for m in re.finditer(r"=+", rule)]
        rules, rows, j = 1, [], i + 1
        while j < len(lines) and rules < 3:
            if _RULE.match(lines[j]):
                rules += 1
            elif lines[j].strip():
                rows.append(lines[j])
            j += 1
        if rules < 3 or not rows:           # not a table after all
            out.append(lines[i])
            i += 1
            continue
        out += ([""] if out and out[-1].strip() else []) + _table(rows, spans, indent)
        out += [""] if j < len(lines) and lines[j].strip() else []
        i = j
    return out


def _doctests(lines: list[str]) -> list[str]:
    """Fence ``>>>`` blocks outside an Examples section (griffe fences those itself)."""
    out, section, i = [], None, 0
    while i < len(lines):
        line = lines[i]
        if i + 1 < len(lines) and line.strip() and re.fullmatch(r"\s*-{3,}\s*", lines[i + 1]):
            section = line.strip()
        if section == "Examples" or not line.lstrip().startswith(">>>"):
            out.append(line)
            i += 1
            continue
        indent = line[:len(line) - len(line.lstrip())]
        block = []
        while i < len(lines) and lines[i].strip():
            block.append(lines[i][len(indent):])
            i += 1
        out += [f"{indent}```pycon", *(indent + b for b in block), f"{indent}```"]
    return out


def to_markdown(text: str) -> str:
    """The docstring ``text`` with its reST math, roles, doctests and simple tables as
    Markdown."""
    lines = _simple_tables(_doctests(_math_blocks(text.splitlines())))
    text = "\n".join(lines)
    text = _MATH.sub(lambda m: f"${m.group(1)}$", text)
    return _ROLE.sub(_role, text)


class RstToMarkdown(griffe.Extension):
    """Rewrite every docstring with :func:`to_markdown` as griffe loads it."""

    def on_instance(self, *, obj, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)
