"""Log output for every process: one `key=value` line per record, whoever supplied the values.

A request path, a file name or a platform's error message may carry a newline (`%0A` in a URL)
and would otherwise start a line of its own, such as a forged `level=ERROR` record. The
formatter escapes control characters in the whole formatted line, once for every logger, so no
call site has to remember to. A traceback is appended after the escaped line and keeps its
lines: it is multi-line by design.
"""

from __future__ import annotations

import logging
import re

LOG_FORMAT = "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"

# C0 controls, DEL, C1 controls (NEL among them) and the Unicode line and paragraph separators.
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return NAMED_ESCAPES.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def escape_control_characters(text: str) -> str:
    """`text` on one line: control characters as Python-style escapes (\\n, \\r, \\t, \\x1b, \\u2028)."""
    return CONTROL_CHARACTERS.sub(_escape, text)


class EscapingFormatter(logging.Formatter):
    """LOG_FORMAT with every field escaped; exc_text and stack_info are appended as they are."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape_control_characters(super().formatMessage(record))


def configure_logging(level: str) -> None:
    """Send every logger's records to stderr through the escaping formatter."""
    handler = logging.StreamHandler()
    handler.setFormatter(EscapingFormatter(LOG_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
