"""`import neuralab`: every module the README documents is reachable as ``nl.<module>``."""

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_every_documented_module_is_reachable_from_import_neuralab():
    text = README.read_text()
    names = set(re.findall(r"\bnl\.([a-z_]+)\.[A-Za-z_]", text))
    names |= set(re.findall(r"`neuralab\.([a-z_]+)`", text))
    assert {"gradcheck", "data", "optim", "schedules", "lab", "sklearn"} <= names
    code = ("import neuralab as nl\n"
            f"for name in {sorted(names)!r}:\n"
            "    assert hasattr(nl, name), name\n"
            "nl.gradcheck.gradient_check\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_import_neuralab_stays_light():
    code = ("import sys, neuralab\n"
            "heavy = [m for m in ('matplotlib', 'sklearn.base', 'torch') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
