"""Text that leaves neuralab for people: CSV cells a spreadsheet opens, lines a terminal shows.

A label comes from a user's data and may be anything. Two places turn such text into
something that runs:

* a spreadsheet evaluates a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
  carriage return as a formula (``=HYPERLINK(...)``, ``@SUM(...)``). OWASP's defence, used by
  :func:`csv_cell`: such a *text* cell gets a leading ``'``; numbers, ``-1.5`` included, are
  written as they are. :func:`csv_line` quotes a cell holding a comma, a quote, CR or LF
  (RFC 4180), so every row reads back as one row.
* a terminal obeys control characters (ESC starts an ANSI sequence, CR rewrites the line):
  :func:`printable` shows them escaped (``\\x1b``, ``\\r``), as ``repr`` would.
"""

from __future__ import annotations

import numbers
import unicodedata

__all__ = ["csv_cell", "csv_line", "printable"]

#: First characters that make a spreadsheet read a cell as a formula (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _is_number_text(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip() == text


def csv_cell(value) -> str:
    """One CSV cell's text: a number as it is; text starting like a formula gets a ``'``."""
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        return str(value)
    text = str(value)
    if text.startswith(FORMULA_STARTS) and not _is_number_text(text):
        return "'" + text
    return text


def csv_line(values, delimiter: str = ",") -> str:
    """One CSV row with its line end: each cell through :func:`csv_cell`, quoted when it holds
    the delimiter, a quote, CR or LF (a quote inside is doubled)."""
    cells = []
    for value in values:
        text = csv_cell(value)
        if any(c in text for c in (delimiter, '"', "\r", "\n")):
            text = '"' + text.replace('"', '""') + '"'
        cells.append(text)
    return delimiter.join(cells) + "\n"


def printable(text) -> str:
    """``text`` for a terminal: control and bidirectional-format characters escaped
    (``\\x1b``, ``\\x00``, ``\\r``, ``\\u202e``), everything else as it is."""
    out = []
    for c in str(text):
        if unicodedata.category(c) in ("Cc", "Cf") and c != "\u200d":   # keep emoji joiners
            out.append(repr(c)[1:-1] if c in "\t\n\r" else
                       f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return "".join(out)
