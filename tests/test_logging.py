"""Issue #9, finding 9: a request path with %0A forged a `level=ERROR` line in the log. Every
record is one line now, whatever its values hold; tracebacks keep their lines."""

from __future__ import annotations

import io
import logging
import re
import sys
from dataclasses import replace

import pytest

from logs import EscapingFormatter, escape_control_characters

FORGED = "\n2026-01-01 00:00:00,000 level=ERROR logger=channelpulse.auth admin password reset"
RECORD_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} level=")


@pytest.fixture
def log_output(settings):
    """The app at INFO (request lines included), its log handler writing to a string."""
    from app import create_app

    server = create_app(replace(settings, log_level="INFO"))
    handler = next(h for h in logging.getLogger().handlers if isinstance(h.formatter, EscapingFormatter))
    output = io.StringIO()
    handler.setStream(output)
    return server, output


def test_a_path_with_a_newline_cannot_forge_a_log_line(log_output):
    server, output = log_output
    server.test_client().get("/api/v1/nope" + FORGED.replace("\n", "%0A").replace(" ", "%20"))
    lines = output.getvalue().splitlines()
    request_line = next(line for line in lines if "logger=channelpulse.request" in line)
    assert "path=/api/v1/nope\\n2026-01-01 00:00:00,000 level=ERROR" in request_line
    assert all(RECORD_START.match(line) for line in lines)  # every line is a record of its own
    assert not any(line.startswith("2026-01-01") for line in lines)


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("a\r\nb", "a\\r\\nb"),
        ("tab\there", "tab\\there"),
        ("\x1b[31mred", "\\x1b[31mred"),  # a terminal escape sequence
        ("\x00\x7f", "\\x00\\x7f"),
        ("next\x85line", "next\\x85line"),  # C1 NEL
        ("line\u2028sep", "line\\u2028sep"),
        ("é ünïcode ✓", "é ünïcode ✓"),
    ],
)
def test_control_characters_are_escaped(raw, escaped):
    assert escape_control_characters(raw) == escaped


def test_every_field_is_escaped_and_a_traceback_keeps_its_lines():
    formatter = EscapingFormatter("level=%(levelname)s logger=%(name)s %(message)s")
    try:
        raise ValueError("boom")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("evil\nlogger", logging.ERROR, __file__, 1, "import file=%s", ("x\ny",), exc_info)
    text = formatter.format(record)
    first, *traceback = text.splitlines()
    assert first == "level=ERROR logger=evil\\nlogger import file=x\\ny"
    assert traceback[0] == "Traceback (most recent call last):" and traceback[-1] == "ValueError: boom"
