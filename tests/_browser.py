"""What the browser tests share: Debian's Chromium (Playwright's own download cannot be
reached here), where screenshots go, and why a test cannot run."""

import importlib
import os
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"


def missing(*modules: str) -> str | None:
    """Why a browser test cannot run (a module of ``modules`` or Chromium is missing), or
    None."""
    for name in ("playwright.sync_api", *modules):
        try:
            importlib.import_module(name)
        except ImportError as exc:
            return f"{exc.name} is not installed (pip install -e '.[test]')"
    if not os.path.exists(CHROMIUM):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None
