"""Text written for people: CSV cells that cannot become formulas, escaped control characters."""

import csv
import io

import pytest

from neuralab._textsafe import csv_cell, csv_line, printable


@pytest.mark.parametrize("text", ["=1+1", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "-", "=",
                                  '=HYPERLINK("http://evil.example")', "-1.5 "])
def test_text_that_starts_like_a_formula_gets_a_quote(text):
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize("value, shown", [(-1.5, "-1.5"), (-3, "-3"), ("-1.5", "-1.5"),
                                          ("-1e-3", "-1e-3"), ("+2", "+2"), (0.25, "0.25"),
                                          ("setosa", "setosa"), (True, "True"),
                                          ("a=b", "a=b"), (" =x", " =x")])
def test_numbers_and_plain_text_are_written_as_they_are(value, shown):
    assert csv_cell(value) == shown


def test_rows_with_commas_quotes_cr_and_lf_read_back_as_written():
    rows = [["a,b", 'say "hi"', "line\rbreak", "two\nlines", "=x", -1.5],
            ["plain", "", "\x1b[31m", "\x00", "@y", 3]]
    text = "".join(csv_line(r) for r in rows)
    back = list(csv.reader(io.StringIO(text, newline="")))
    assert back == [["a,b", 'say "hi"', "line\rbreak", "two\nlines", "'=x", "-1.5"],
                    ["plain", "", "\x1b[31m", "\x00", "'@y", "3"]]


def test_control_characters_are_shown_escaped_on_a_terminal():
    assert printable("red\x1b[31m\x00!") == "red\\x1b[31m\\x00!"
    assert printable("a\rb\nc\td\x7f\x9b") == "a\\rb\\nc\\td\\x7f\\x9b"
    assert printable("\u202eevil") == "\\u202eevil"          # right-to-left override
    assert printable("versicolor é 👩\u200d🔬") == "versicolor é 👩\u200d🔬"
