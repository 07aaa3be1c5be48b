"""CSV downloads: the one writer every export (API `?format=csv`, the Dash download buttons)
goes through, so none can hand a spreadsheet a formula.

Product titles, SKUs, channel names and upstream messages are the tenant's (or a platform's)
text. A spreadsheet executes a cell that starts with `=`, `+`, `-` or `@` (and, in some, a tab
or carriage return before one), so such text cells get a leading apostrophe, OWASP's rule for
CSV injection: spreadsheets show the text as typed and hide the apostrophe. Numbers, including
negative amounts written as text ("-12.50"), stay numbers.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def safe_cell(value: object) -> object:
    """The value, or, for text a spreadsheet would run as a formula, the text after an apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not NUMBER.fullmatch(value):
        return "'" + value
    return value


def comment_line(text: str) -> str:
    """`# text` as one physical line. A spreadsheet still splits it at commas (and reads a
    double quote as a quoted cell), so quotes become apostrophes and each piece after a comma
    gets the cell rule: the line stays readable and inert whatever names it quotes."""
    pieces = " ".join(text.replace('"', "'").splitlines()).split(",")
    return "# " + ",".join([pieces[0], *(str(safe_cell(piece)) for piece in pieces[1:])]) + "\n"


def csv_text(header: Iterable[str], columns: Sequence[str], rows: Iterable[Sequence]) -> str:
    """CSV whose first lines (starting with #) say what the numbers are."""
    out = io.StringIO()
    out.writelines(comment_line(line) for line in header)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([safe_cell(c) for c in columns])
    writer.writerows([safe_cell(c) for c in row] for row in rows)
    return out.getvalue()
