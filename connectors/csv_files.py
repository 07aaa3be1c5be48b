"""A CSV file a tenant hands us (an order export, a sales report), read safely: gzip recognised
by its magic bytes, the encoding picked by decoding, NUL bytes found, its decompressed size
capped by `Limits` (whose row cap parse_csv applies) and streamed rather than held whole, so a
hostile file (a gzip bomb, a huge upload) is refused with a message instead of exhausting memory.
Also the errors that say what is wrong with a file: `RowError` per problem, `CsvImportError`
for all of them, `UnreadableFile` when the file as a whole cannot be read. Pure: no database.
"""

from __future__ import annotations

import codecs
import contextlib
import gzip
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from connectors.base import ConnectorError

Source = str | Path | IO[bytes]  # a path, or an open binary file such as an upload

READ_CHUNK = 1024 * 1024  # bytes read (decompressed) at a time: a file is never held whole
GZIP_MAGIC = b"\x1f\x8b"
# UTF-8 with or without BOM first; then Windows-1252, what spreadsheet exports on Windows write
# (a superset of latin-1's printable characters), and latin-1, which decodes any byte.
ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem in the file: `line` is the physical line (the header is line 1)."""

    line: int
    column: str
    value: str
    reason: str

    def __str__(self) -> str:
        if not (self.column or self.value):  # about the whole line
            return f"line {self.line}: {self.reason}"
        return f"line {self.line}, column {self.column!r}, value {self.value!r}: {self.reason}"


class CsvImportError(ConnectorError):
    """The file cannot be imported; `errors` holds every problem found, not just the first."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} error(s) in the CSV file, first: {errors[0]}")
        self.errors = errors


@dataclass(frozen=True)
class Limits:
    """The most a file may hold, counted after decompression, so that a hostile file (a gzip
    bomb, millions of tiny rows) is refused with a message instead of exhausting memory: the
    file is streamed, never held whole, and its parsed rows (about 1 KB of memory each) stop at
    `max_rows`."""

    max_bytes: int
    max_rows: int


MB = 1024 * 1024
# Web uploads (API and Channels page): 2.5x the bytes and 1.8x the rows of the UCI Online
# Retail export (49 MB, 541,909 rows), which peaks at about 560 MB while it imports.
UPLOAD_LIMITS = Limits(max_bytes=128 * MB, max_rows=1_000_000)
# The command line runs on the operator's own machine: bigger files, as memory allows.
CLI_LIMITS = Limits(max_bytes=1024 * MB, max_rows=5_000_000)


class UnreadableFile(ConnectorError):
    """The file as a whole cannot be imported (too big, a damaged gzip): the message says why."""


class _Capped(io.RawIOBase):
    """A binary stream that raises UnreadableFile once more than `limit` bytes came out of it."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        super().__init__()
        self.stream, self.limit, self.size = stream, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self.stream.readinto(buffer)
        self.size += count
        if self.size > self.limit:
            raise UnreadableFile(
                f"the file is larger than {self.limit // MB:,} MB (uncompressed): split it, "
                "or import it with the command line (docs/csv_import.md)"
            )
        return count


@contextlib.contextmanager
def open_binary(source: Source, limits: Limits) -> Iterator[IO[bytes]]:
    """The file's bytes, decompressed as they are read when it is a gzip (recognised by its
    magic bytes, whatever its name) and capped at `limits.max_bytes`. A damaged or cut-short
    gzip raises UnreadableFile."""
    with open(source, "rb") if isinstance(source, str | Path) else contextlib.nullcontext(source) as raw:
        raw.seek(0)
        compressed = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        try:
            yield io.BufferedReader(_Capped(stream, limits.max_bytes), READ_CHUNK)
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise UnreadableFile(f"the gzip file is damaged or cut short ({exc}): compress it again") from None


@dataclass(frozen=True)
class FileScan:
    encoding: str
    lines: int  # physical lines, for progress
    nul_line: int | None  # the first line with a NUL byte, if any


def scan_file(source: Source, limits: Limits) -> FileScan:
    """Read the whole file once without keeping it: enforce the byte cap, count its lines, find
    any NUL byte (no database text column stores one) and pick the first encoding of ENCODINGS
    that decodes all of it."""
    decoders = {name: codecs.getincrementaldecoder(name)() for name in ENCODINGS[:-1]}
    lines, nul_line, last = 0, None, b"\n"
    with open_binary(source, limits) as stream:
        while chunk := stream.read(READ_CHUNK):
            if nul_line is None and (at := chunk.find(b"\0")) >= 0:
                nul_line = lines + chunk.count(b"\n", 0, at) + 1
            lines += chunk.count(b"\n")
            last = chunk[-1:]
            ascii = chunk.isascii()  # decodes alike in every encoding, so only a pending sequence matters
            for name, decoder in list(decoders.items()):
                if ascii and not decoder.getstate()[0]:
                    continue
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    del decoders[name]
    for name, decoder in list(decoders.items()):
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            del decoders[name]
    encoding = next(iter(decoders), ENCODINGS[-1])
    return FileScan(encoding, lines + (last != b"\n"), nul_line)


def read_text(source: Source, limits: Limits = UPLOAD_LIMITS) -> str:
    """A small file (a sales report) as text, whole: decompressed and decoded as parse_csv does,
    within `limits.max_bytes`; a file that cannot be read raises CsvImportError saying why."""
    try:
        scan = scan_file(source, limits)
        with open_binary(source, limits) as stream:
            return stream.read().decode(scan.encoding)
    except UnreadableFile as exc:
        raise CsvImportError([RowError(1, "", "", str(exc))]) from None
