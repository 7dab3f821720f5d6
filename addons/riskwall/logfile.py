"""An optional log file beside stdout: the same JSON lines, in a file rotated by size.

    sink = configure_file("/var/log/riskwall/riskwall.jsonl", max_bytes=50 * 1024**2, backups=5)
    logs.configure(tee(sys.stdout, sink))      # every line goes to stdout, then to the file

Rotation is by whole lines: when the next line would take the file past `max_bytes`, the file becomes
`PATH.1` (the older ones shift to `PATH.2` ... `PATH.<backups>`, the oldest is deleted) and a new file is
started, so no line is ever split across two files and a shipper that tails `PATH` sees only complete lines.
A single line longer than `max_bytes` gets a file of its own. `backups=0` keeps no old file (the file is
emptied instead).

A log file must never stop the firewall: when the file cannot be written (disk full, permissions), the
error is reported once on stderr and the line still reaches stdout; writing resumes when it can.
"""

from __future__ import annotations

import io
import os
import re
import sys
import threading
from pathlib import Path
from typing import TextIO, cast

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_BACKUPS = 5
FILE_MODE = 0o640

_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


class RotatingFileSink:
    """Appends whole lines to `path`, rotating by size. Thread-safe."""

    def __init__(self, path: str | os.PathLike[str], max_bytes: int, backups: int) -> None:
        if max_bytes < 1:
            raise ValueError(f"log file size limit must be at least 1 byte, got {max_bytes}")
        if backups < 0:
            raise ValueError(f"log file backups must be 0 or more, got {backups}")
        self.path = Path(path).expanduser()
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock = threading.Lock()
        self._failed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: io.BufferedWriter | None = self._open("ab")  # raises at startup: a bad path is fatal then
        self._size = self.path.stat().st_size

    def write_line(self, line: str) -> None:
        data = line.encode("utf-8", "replace")
        if not data.endswith(b"\n"):
            data += b"\n"
        with self._lock:
            try:
                if self._file is None:
                    self._file = self._open("ab")
                    self._size = self.path.stat().st_size
                if self._size > 0 and self._size + len(data) > self.max_bytes:
                    self._rotate()
                assert self._file is not None
                self._file.write(data)
                self._file.flush()
                self._size += len(data)
                self._failed = False
            except OSError as exc:
                self._close_quietly()
                if not self._failed:
                    self._failed = True
                    print(f"riskwall: cannot write log file {self.path}: {exc}", file=sys.stderr, flush=True)

    def close(self) -> None:
        with self._lock:
            self._close_quietly()

    def _rotate(self) -> None:
        self._close_quietly()
        if self.backups == 0:
            self._file = self._open("wb")
            self._size = 0
            return
        oldest = self._backup(self.backups)
        if oldest.exists():
            oldest.unlink()
        for index in range(self.backups - 1, 0, -1):
            source = self._backup(index)
            if source.exists():
                source.replace(self._backup(index + 1))
        self.path.replace(self._backup(1))
        self._file = self._open("wb")
        self._size = 0

    def _backup(self, index: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{index}")

    def _open(self, mode: str) -> io.BufferedWriter:
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "ab" else os.O_TRUNC)
        descriptor = os.open(self.path, flags, FILE_MODE)
        return cast(io.BufferedWriter, os.fdopen(descriptor, mode))

    def _close_quietly(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None


class _Tee(io.TextIOBase):
    """A text stream that writes to `primary` and hands every complete line to `sink`."""

    def __init__(self, primary: TextIO, sink: RotatingFileSink) -> None:
        super().__init__()
        self._primary = primary
        self._sink = sink
        self._pending = ""

    def write(self, text: str) -> int:
        self._primary.write(text)
        self._pending += text
        while "\n" in self._pending:
            line, _, self._pending = self._pending.partition("\n")
            self._sink.write_line(line)
        return len(text)

    def flush(self) -> None:
        self._primary.flush()

    def writable(self) -> bool:
        return True


def configure_file(path: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES,
                   backups: int = DEFAULT_BACKUPS) -> RotatingFileSink:
    """Open (or create, with its folder) the log file. Raises OSError or ValueError on a bad setting."""
    return RotatingFileSink(path, max_bytes, backups)


def tee(primary: TextIO, sink: RotatingFileSink) -> TextIO:
    """A stream for `logs.configure()`: each line to `primary` (stdout) and to the log file."""
    return cast(TextIO, _Tee(primary, sink))


def parse_size(text: str) -> int:
    """`52428800`, `50M`, `50MiB`, `512k` → bytes (binary units), for a `--log-max-bytes` option."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"log file size {text!r}: write a number of bytes, or e.g. 512k, 50M, 1G")
    unit = (match[2] or "").lower()[:1]
    return int(match[1]) * _UNITS[unit if unit != "b" else ""]


__all__ = ["DEFAULT_BACKUPS", "DEFAULT_MAX_BYTES", "RotatingFileSink", "configure_file", "parse_size", "tee"]
