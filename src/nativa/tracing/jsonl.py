"""The default trace store: one JSON object per finished span, appended to `spans.jsonl` under the data dir.

Plain JSON lines because a person can read them with `tail`/`jq` and any tool can parse them. Writers
(several processes may trace at once: a CLI run beside the server) append a whole batch with one write under
an exclusive `flock`, and rotate under the same lock; readers take the lock shared, so they see whole lines
and never a file half-renamed. A torn last line (a writer killed mid-write) is skipped, never fatal.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

ACTIVE_FILE: Final = "spans.jsonl"
LOCK_FILE: Final = ".spans.lock"
DEFAULT_MAX_BYTES: Final = 20 * 1024 * 1024
DEFAULT_KEEP: Final = 5

_log = logging.getLogger(__name__)


def _hex(value: int, width: int) -> str:
    return format(value, f"0{width}x")


def span_to_dict(span: ReadableSpan) -> dict[str, Any]:
    """The JSONL record of one span: ids in hex, times in ns since the epoch, attributes as JSON values."""
    ctx = span.context
    assert ctx is not None, "a finished SDK span always has a context"
    parent = span.parent
    start = span.start_time or 0
    end = span.end_time or start
    status = span.status
    return {
        "trace_id": _hex(ctx.trace_id, 32),
        "span_id": _hex(ctx.span_id, 16),
        "parent_id": _hex(parent.span_id, 16) if parent is not None else None,
        "name": span.name,
        "kind": span.kind.name,
        "start_ns": start,
        "end_ns": end,
        "duration_ms": (end - start) / 1e6,
        "status": status.status_code.name,
        "status_message": status.description,
        "attributes": dict(span.attributes or {}),
        "events": [
            {"name": e.name, "time_ns": e.timestamp, "attributes": dict(e.attributes or {})}
            for e in span.events
        ],
        "resource": dict(span.resource.attributes),
        "scope": span.instrumentation_scope.name if span.instrumentation_scope else None,
    }


@contextmanager
def _flock(directory: Path, exclusive: bool) -> Iterator[None]:
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def rotated_name(index: int) -> str:
    """The name of the `index`-th older file (`spans.jsonl.1` is the newest rotated one)."""
    return f"{ACTIVE_FILE}.{index}"


def store_files(directory: Path) -> list[Path]:
    """The store's files oldest first: `spans.jsonl.N` … `spans.jsonl.1`, then `spans.jsonl`."""
    rotated: list[tuple[int, Path]] = []
    for path in directory.glob(ACTIVE_FILE + ".*"):
        suffix = path.name[len(ACTIVE_FILE) + 1 :]
        if suffix.isdigit():
            rotated.append((int(suffix), path))
    files = [p for _, p in sorted(rotated, reverse=True)]
    active = directory / ACTIVE_FILE
    if active.exists():
        files.append(active)
    return files


class JsonlSpanExporter(SpanExporter):
    """Appends finished spans to the store; runs on the batch processor's thread, never the traced code's.

    The active file is rotated before a batch that would take it past `max_bytes`; a batch is never split, so
    one batch larger than `max_bytes` makes a file that large.
    """

    def __init__(
        self, directory: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, keep: int = DEFAULT_KEEP
    ) -> None:
        if max_bytes < 1024:
            raise ValueError(f"max_bytes={max_bytes}: a trace file must be allowed at least 1024 bytes")
        if keep < 1:
            raise ValueError(f"keep={keep}: keep at least 1 file (the active one)")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.keep = keep
        self._lock = threading.Lock()
        self._closed = False

    @property
    def path(self) -> Path:
        """The active file, the one appended to; rotated files sit beside it."""
        return self.directory / ACTIVE_FILE

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Append the batch as JSON lines under an exclusive flock (several processes may share the store),
        rotating first if it would overflow; a write error is logged and the batch dropped, never raised."""
        if self._closed:
            return SpanExportResult.FAILURE
        try:
            data = "".join(
                json.dumps(span_to_dict(s), separators=(",", ":"), ensure_ascii=False, default=str) + "\n"
                for s in spans
            ).encode("utf-8")
            with self._lock, _flock(self.directory, exclusive=True):
                self._rotate_if_needed(len(data))
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    view = memoryview(data)
                    while view:
                        written = os.write(fd, view)
                        view = view[written:]
                finally:
                    os.close(fd)
        except OSError as exc:  # a full disk must not break the traced program
            _log.warning("nativa tracing: could not write %d spans to %s: %s", len(spans), self.path, exc)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def _rotate_if_needed(self, incoming: int) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size == 0 or size + incoming <= self.max_bytes:
            return
        if self.keep == 1:
            self.path.unlink()
            return
        (self.directory / rotated_name(self.keep - 1)).unlink(missing_ok=True)
        for index in range(self.keep - 2, 0, -1):
            src = self.directory / rotated_name(index)
            if src.exists():
                src.rename(self.directory / rotated_name(index + 1))
        self.path.rename(self.directory / rotated_name(1))

    def shutdown(self) -> None:
        """Refuse later batches; nothing is buffered, so nothing is lost."""
        self._closed = True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Always True: every export is on disk before it returns."""
        return True  # every export is written through before it returns


def read_records(directory: Path) -> Iterator[dict[str, Any]]:
    """Every span record in the store, oldest file first; torn or foreign lines are skipped."""
    directory = Path(directory)
    if not directory.is_dir():
        return
    blobs: list[bytes] = []
    with _flock(directory, exclusive=False):
        for path in store_files(directory):
            try:
                blobs.append(path.read_bytes())
            except FileNotFoundError:
                continue
    for blob in blobs:
        for line in blob.split(b"\n"):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and "trace_id" in record and "span_id" in record:
                yield record
