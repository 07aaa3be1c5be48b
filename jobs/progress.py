"""How long work reports progress: a `Progress` callback (done, total) that operations call, and
the CLI's progress line built on it."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


class ProgressLine:
    """A one-line progress report for the CLI: rewritten in place on a terminal, printed every
    10% otherwise (logs, CI), and finished with a done line. Before there is anything to count,
    `note` says what the work is waiting for (on a terminal as it changes, in logs every 10 s)."""

    NOTE_EVERY_SECONDS = 10.0

    def __init__(self, label: str, stream=sys.stderr) -> None:
        self.label, self.stream = label, stream
        self.started = time.monotonic()
        self._last_step = -1
        self._last_note = -self.NOTE_EVERY_SECONDS

    def note(self, text: str) -> None:
        if self.stream.isatty():
            self.stream.write(f"\r\033[K{self.label}: {text}")
        elif time.monotonic() - self._last_note >= self.NOTE_EVERY_SECONDS:
            self._last_note = time.monotonic()
            self.stream.write(f"{self.label}: {text}\n")
        self.stream.flush()

    def __call__(self, done: int, total: int) -> None:
        pct = 100 * done // total if total else 100
        if self.stream.isatty():
            self.stream.write(f"\r{self.label}: {pct:3d}% ({done:,}/{total:,})")
        elif pct // 10 != self._last_step:
            self._last_step = pct // 10
            self.stream.write(f"{self.label}: {pct}% ({done:,}/{total:,})\n")
        self.stream.flush()

    def finish(self, summary: str) -> None:
        end = "\n" if self.stream.isatty() else ""
        self.stream.write(f"{end}{self.label}: done, {summary} in {time.monotonic() - self.started:.1f} s\n")
        self.stream.flush()
