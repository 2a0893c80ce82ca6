"""Batch workers as local processes: one `spawn`ed process per worker, each holding its own model.

Each worker speaks JSON over a pipe (`send_bytes`), so a local worker sees exactly what a Ray actor sees.
Processes are started with `spawn`, not `fork`: the parent may hold threads (progress bars, tracing) that a
forked copy would inherit half-locked. A worker ignores Ctrl-C (the parent decides when to stop it) and
exits when its pipe closes, so it never outlives the batch.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import signal
from multiprocessing.connection import Connection, wait
from typing import Any

from nativa.scale.dispatch import Died, Event, Finished, Ready
from nativa.scale.worker import ModelFactory, TaskRunner, WorkerInfo, WorkerSpec

_STOP = b""


def _worker_main(conn: Connection, spec_json: str, name: str, model_factory: ModelFactory | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        runner = TaskRunner(WorkerSpec.model_validate_json(spec_json), name, model_factory)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which stops the batch with it
        conn.send_bytes(json.dumps({"fatal": f"{type(exc).__name__}: {exc}"}).encode())
        return
    try:
        conn.send_bytes(json.dumps({"ready": runner.info.to_dict()}).encode())
        while True:
            try:
                payload = conn.recv_bytes()
            except EOFError:
                break
            if payload == _STOP:
                break
            conn.send_bytes(runner.run(payload.decode()).encode())
    finally:
        runner.close()


class _Proc:
    def __init__(self, process: Any, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.ready = False


class LocalBackend:
    """Workers as processes on this machine (`nativa batch` without `--ray`)."""

    name = "local"

    def __init__(self, spec: WorkerSpec, *, model_factory: ModelFactory | None = None) -> None:
        self.spec = spec
        self.model_factory = model_factory
        self._ctx = mp.get_context("spawn")
        self._procs: dict[int, _Proc] = {}
        self._next = 0

    def spawn(self) -> int:
        """Start a worker process (a fresh interpreter: `spawn`, not fork); its `Ready` arrives through `wait`
        once its model has loaded."""
        number = self._next
        self._next += 1
        parent, child = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(target=_worker_main, name=f"nativa-batch-{number}", daemon=True,
                                    args=(child, self.spec.model_dump_json(), f"local-{number}",
                                          self.model_factory))
        process.start()
        child.close()
        self._procs[number] = _Proc(process, parent)
        return number

    def submit(self, worker: int, payload: str) -> None:
        """Send the worker one task; if it has died, its exit is reported by `wait`, not raised here."""
        try:
            self._procs[worker].conn.send_bytes(payload.encode())
        except OSError:
            pass  # it died; its sentinel reports that through wait()

    def pid(self, worker: int) -> int | None:
        """The worker's process id, so a test (or an operator) can kill one and watch its task retried."""
        return self._procs[worker].process.pid

    def wait(self, timeout_s: float) -> list[Event]:
        """Events from the workers' pipes and exits, waiting up to `timeout_s` for the first; a worker whose
        process exited or closed its pipe comes back as `Died`, once."""
        if not self._procs:
            return []
        handles: dict[Any, int] = {}
        for number, proc in self._procs.items():
            handles[proc.conn] = number
            handles[proc.process.sentinel] = number
        events: list[Event] = []
        gone: set[int] = set()
        for handle in wait(list(handles), timeout_s):
            number = handles[handle]
            proc = self._procs.get(number)
            if number in gone or proc is None:
                continue
            message, eof = self._receive(proc)
            if message is not None:
                events.append(self._event(number, proc, message))
                continue
            if not eof and proc.process.is_alive():
                continue  # the sentinel raced ahead of the pipe; read it next round
            gone.add(number)
            if proc.process.is_alive():  # it closed its pipe: it can take no task, so it is gone
                proc.process.terminate()
            proc.process.join(5.0)
            events.append(Died(number, f"process {proc.process.pid} exited with code {proc.process.exitcode}"))
            self._forget(number)
        return events

    @staticmethod
    def _receive(proc: _Proc) -> tuple[bytes | None, bool]:
        """The next message if one is waiting, and whether the pipe is closed (the worker is gone)."""
        try:
            if proc.conn.poll(0):
                return proc.conn.recv_bytes(), False
        except (EOFError, OSError):
            return None, True
        return None, False

    def _event(self, number: int, proc: _Proc, message: bytes) -> Event:
        if proc.ready:
            return Finished(number, message.decode())
        data = json.loads(message)
        if "fatal" in data:
            self._forget(number)
            return Ready(number, None, fatal=data["fatal"])
        proc.ready = True
        return Ready(number, WorkerInfo(**data["ready"]))

    def _forget(self, number: int) -> None:
        proc = self._procs.pop(number, None)
        if proc is not None:
            proc.conn.close()
            proc.process.join(1.0)

    def close(self) -> None:
        """Ask every worker to stop (it closes its sandboxes and flushes its traces), then terminate the ones
        that do not exit in time."""
        for proc in self._procs.values():
            try:
                proc.conn.send_bytes(_STOP)
            except OSError:
                pass
        for number in list(self._procs):
            proc = self._procs[number]
            proc.process.join(10.0)
            if proc.process.is_alive():
                proc.process.terminate()
                proc.process.join(5.0)
            proc.conn.close()
        self._procs.clear()
