"""A batch's input and output: task lines read with their line numbers, result lines appended one at a time.

The output file is the batch's only record of what is done, so it is what makes a re-run resume: each line is
written whole (one `write`, flushed and fsynced) when its task completes, and a torn last line left by a crash
is cut off before anything is appended after it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nativa.errors import BadInputError

Kind = Literal["code", "run", "noop"]


class BatchTask(BaseModel):
    """One input line: `{"id", "kind": "code"|"run", "task", "tests"?, "session"?}`.

    `noop` does nothing on the worker: it measures what the batch path itself costs per task. `session` names
    a memory session; it travels with the task and its result (see docs/scale.md: across machines it needs
    the shared memory store).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=256)
    kind: Kind
    task: str = ""
    tests: str | None = None
    session: str | None = Field(None, max_length=256)

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _task_given(self) -> BatchTask:
        if self.kind != "noop" and not self.task.strip():
            raise ValueError(f"'task' is empty; a {self.kind!r} task needs the text to solve")
        return self


@dataclass(frozen=True, slots=True)
class BadLine:
    """An input line that was skipped, and why, so the user can fix that line alone."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(slots=True)
class TaskFile:
    """The tasks of a JSONL file and the lines that were not tasks, so one bad line is reported rather than
    ending the batch.
    """

    tasks: list[BatchTask] = field(default_factory=list)
    bad: list[BadLine] = field(default_factory=list)


def parse_tasks(lines: Iterator[str] | list[str]) -> TaskFile:
    """Every valid task in order; every other non-blank line as a `BadLine` (never fatal to the rest). An id
    seen before is a bad line too: the output holds each id once."""
    found = TaskFile()
    first_line: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text:
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            found.bad.append(BadLine(number, f"not JSON ({exc.msg} at column {exc.colno})"))
            continue
        if not isinstance(data, dict):
            found.bad.append(BadLine(number, f"expected a JSON object, got {type(data).__name__}"))
            continue
        try:
            task = BatchTask.model_validate(data)
        except ValidationError as exc:
            found.bad.append(BadLine(number, _first_problem(exc)))
            continue
        if task.id in first_line:
            found.bad.append(BadLine(number, f"id {task.id!r} already on line {first_line[task.id]}"))
            continue
        first_line[task.id] = number
        found.tasks.append(task)
    return found


def read_tasks(path: Path) -> TaskFile:
    """Read a JSONL task file; an unreadable file is the caller's error, a bad line is kept as a `BadLine`."""
    try:
        with path.open(encoding="utf-8") as f:
            return parse_tasks(list(f))
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise BadInputError(f"cannot read tasks file {path}: {reason}") from None


def _first_problem(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        message = str(err["msg"]).removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)


@dataclass(slots=True)
class TaskOutcome:
    """One output line: the task's typed result as JSON (`AgentResult.to_dict()` for code, the tool agent's
    result for run), or the error that ended it, plus the id and the worker that ran it."""

    id: str
    kind: str
    worker: str
    result: dict[str, Any] | None
    error: str | None = None
    session: str | None = None
    tries: int = 1  # 2 or more: a worker died holding this task and another one ran it
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the task ran to a result; a failed agent run is still ok here (its result says so)."""
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """The output line's JSON shape; `ResultLog.finished_ids` reads its `id` back to resume a batch."""
        return asdict(self)


class ResultLog:
    """Where result lines go (a file, or stdout without `--out`), and which ids a previous run finished."""

    def __init__(self, path: Path | None, stream: IO[str] | None = None) -> None:
        self.path = path
        self._stream = stream
        self._file: IO[str] | None = None

    def finished_ids(self) -> set[str]:
        """Ids already in the output; a torn last line (a crash mid-write) is cut off first, and its task
        runs again."""
        if self.path is None or not self.path.exists():
            return set()
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise BadInputError(f"cannot read --out file {self.path}: {exc.strerror}") from None
        whole = data[: data.rfind(b"\n") + 1]
        if len(whole) != len(data):
            with self.path.open("r+b") as f:
                f.truncate(len(whole))
        ids: set[str] = set()
        for number, line in enumerate(whole.decode("utf-8", errors="replace").splitlines(), start=1):
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                raise BadInputError(f"--out file {self.path} line {number} is not a result line (not JSON); "
                                    "name a new file or the output of an earlier run of this batch") from None
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                ids.add(entry["id"])
        return ids

    def write(self, outcome: TaskOutcome) -> None:
        """Append one result line and flush it (fsync for a file), so a crash loses at most the line being
        written and a rerun skips every task already done."""
        line = json.dumps(outcome.to_dict(), ensure_ascii=False) + "\n"
        if self.path is None:
            stream = self._stream or sys.stdout
            stream.write(line)
            stream.flush()
            return
        if self._file is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("a", encoding="utf-8")
            except OSError as exc:
                raise BadInputError(f"cannot write --out file {self.path}: {exc.strerror}") from None
        self._file.write(line)
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        """Close the output file (stdout is left open); writing again reopens it in append mode."""
        if self._file is not None:
            self._file.close()
            self._file = None
