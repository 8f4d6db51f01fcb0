"""The lab's gallery for the documentation site: record a full lab run, render its page.

``python tools/docs_gallery.py record`` runs every experiment of :mod:`neuralab.lab` in full
(not quick) mode — several minutes — and stores in ``docs/gallery/``:

* ``<experiment>.png``: the figure, shrunk to at most 1200 pixels wide with a 128-colour
  palette (about 60 kB each);
* ``results.json``: each experiment's measured numbers, conclusion and verdict, and where they
  come from: the date, the git commit, neuralab's version, the machine, the command, and a
  fingerprint of the lab's source files.

The site's build (``tools/mkdocs_hooks.py``) calls :func:`page`, which reads the experiments'
titles and claims from the lab's registry and every number from ``results.json``: no number on
the page is typed by hand, and the page says when and where they were measured, and warns when
the lab's code has changed since.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GALLERY = ROOT / "docs" / "gallery"
RESULTS = GALLERY / "results.json"
COMMAND = "python tools/docs_gallery.py record"
MAX_WIDTH, COLOURS = 1200, 128


def lab_fingerprint() -> str:
    """SHA-256 over the lab's source files (names and contents), the first 16 hex digits."""
    import neuralab.lab

    digest = hashlib.sha256()
    for path in sorted(Path(neuralab.lab.__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _shrink(src: Path, dst: Path) -> None:
    from PIL import Image

    image = Image.open(src).convert("RGB")
    if image.width > MAX_WIDTH:
        image = image.resize((MAX_WIDTH, round(image.height * MAX_WIDTH / image.width)),
                             Image.LANCZOS)
    image = image.quantize(colors=COLOURS, method=Image.Quantize.MEDIANCUT,
                           dither=Image.Dither.NONE)
    buf = io.BytesIO()
    image.save(buf, "PNG", optimize=True)
    dst.write_bytes(buf.getvalue())


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--",
                                "src"], capture_output=True, text=True, check=True).stdout
        return out + ("+changes" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _plain(value):
    """JSON-safe numbers (NumPy scalars become floats and ints)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        return value.item()
    return value


def record(out: Path = GALLERY, seed: int = 0) -> dict:
    """Run the whole lab in full mode and write the figures and ``results.json`` to ``out``."""
    import neuralab
    import neuralab.lab as lab

    out.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now(datetime.UTC)
    with tempfile.TemporaryDirectory() as tmp:
        results = lab.run_all(quick=False, out_dir=tmp, seed=seed,
                              progress=lambda r: print(r, flush=True))
        for r in results:
            _shrink(Path(r.figure), out / f"{r.name}.png")
    data = {
        "recorded": {
            "command": COMMAND, "date": started.strftime("%Y-%m-%d %H:%M UTC"),
            "commit": _git_commit(), "neuralab": neuralab.__version__,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}, "
                       f"Python {platform.python_version()}",
            "load_average": round(os.getloadavg()[0], 2), "seed": seed,
            "seconds": round(sum(r.seconds for r in results), 1),
            "lab_fingerprint": lab_fingerprint()},
        "experiments": [{"name": r.name, "title": r.title, "claim": r.claim,
                         "numbers": _plain(r.numbers), "conclusion": r.conclusion,
                         "passed": r.passed, "seconds": round(r.seconds, 1),
                         "figure": f"{r.name}.png"} for r in results],
    }
    (out / "results.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n",
                                      encoding="utf-8")
    return data


# ---------------------------------------------------------------------------- the page
def _fmt(value) -> str:
    if isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, list):
        text = "[" + ", ".join(_fmt(v) for v in value) + "]"
    else:
        text = str(value)
    return text.replace("|", "\\|")


def _numbers_table(numbers: dict) -> str:
    """Scalars as a two-column table; a group of dicts (one per row) as one wide table."""
    scalars = {k: v for k, v in numbers.items() if not isinstance(v, dict)}
    groups = {k: v for k, v in numbers.items() if isinstance(v, dict)}
    parts = []
    if scalars:
        parts.append("| quantity | value |\n|---|---|\n" + "\n".join(
            f"| {_fmt(k)} | {_fmt(v)} |" for k, v in scalars.items()))
    flat = {k: v for k, v in groups.items() if not any(isinstance(x, dict) for x in v.values())}
    if flat:
        cols = list(dict.fromkeys(c for row in flat.values() for c in row))
        parts.append("| | " + " | ".join(_fmt(c) for c in cols) + " |\n"
                     + "|---" * (len(cols) + 1) + "|\n"
                     + "\n".join(f"| {_fmt(k)} | " + " | ".join(_fmt(row.get(c, ""))
                                                               for c in cols) + " |"
                                 for k, row in flat.items()))
    for k, v in groups.items():
        if k not in flat:
            parts.append(f"**{_fmt(k)}**\n\n" + _numbers_table(v))
    return "\n\n".join(parts)


def _indent(text: str) -> str:
    return "\n".join(("    " + line) if line else "" for line in text.splitlines())


def page(results_path: Path = RESULTS) -> str:
    """The gallery page (Markdown): the lab's registry joined with the recorded results."""
    import neuralab.lab as lab

    results_path = Path(results_path)
    if not results_path.exists():
        return "\n".join([
            "# The lab: every claim of the lecture, measured", "",
            "!!! warning \"Not recorded\"",
            f"    `{results_path.name}` is missing: run `{COMMAND}` to record the lab's "
            "figures and numbers.", ""])
    data = json.loads(results_path.read_text(encoding="utf-8"))
    rec = data["recorded"]
    recorded = {e["name"]: e for e in data["experiments"]}
    lines = [
        "# The lab: every claim of the lecture, measured",
        "",
        "Each experiment of `neuralab.lab` turns one claim of the lecture into a measurement "
        "and a figure ([the lecture map](lecture.md) links each slide to its experiment). "
        "Run them yourself with `neuralab lab run all --out lab-out` (or one: "
        "`neuralab lab run NAME --out lab-out`).",
        "",
        "!!! info \"Where these numbers come from\"",
        f"    The titles and claims below are read from the lab's registry when the site is "
        f"built. The figures, numbers and conclusions were recorded by `{rec['command']}` "
        f"(every experiment in full mode, seed {rec['seed']}) on {rec['date']}, at commit "
        f"`{rec['commit']}` (neuralab {rec['neuralab']}), on {rec['machine']} "
        f"(load average {rec['load_average']} at the start; {rec['seconds']:.0f} s in all). "
        "Timings depend on the machine; accuracies and losses depend on the seed.",
        "",
    ]
    if rec.get("lab_fingerprint") != lab_fingerprint():
        lines += ["!!! warning \"The lab has changed since this recording\"",
                  "    The lab's source files differ from those that produced these results; "
                  f"run `{COMMAND}` to record them again.", ""]
    missing = [name for name in lab.EXPERIMENTS if name not in recorded]
    if missing:
        lines += ["!!! warning \"Not recorded yet\"",
                  f"    No recorded result for: {', '.join(missing)}; run `{COMMAND}`.", ""]
    for i, (name, fn) in enumerate(lab.EXPERIMENTS.items(), 1):
        lines += [f"## {i}. {fn.title}", "", f"`{name}` — *Claim:* {fn.claim}", ""]
        e = recorded.get(name)
        if e is None:
            continue
        verdict = "success" if e["passed"] else "failure"
        mark = "supports the claim" if e["passed"] else "does **not** support the claim"
        lines += [f"![{fn.title}](gallery/{e['figure']})", "",
                  f"!!! {verdict} \"Measured: {mark} ({e['seconds']:.1f} s)\"",
                  _indent(e["conclusion"]), "",
                  "??? note \"Numbers\"", _indent(_numbers_table(e["numbers"])), ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("record", help="run the lab in full mode and store docs/gallery/")
    p = sub.add_parser("page", help="print the gallery page's Markdown")
    p.add_argument("--results", default=str(RESULTS))
    args = parser.parse_args(argv)
    if args.command == "record":
        data = record()
        n_ok = sum(e["passed"] for e in data["experiments"])
        print(f"{n_ok}/{len(data['experiments'])} claims supported; wrote {GALLERY}")
        return 0
    print(page(Path(args.results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
