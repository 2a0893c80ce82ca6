"""What every sandbox of this process shares on the host: runtime dir and cgroup support, the compiled
runner, and the one long-lived thread that forks long-lived sandboxes."""

from __future__ import annotations

import hashlib
import os
import py_compile
import queue
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nativa.sandbox import _runtime, bwrap, cgroups

RUNNER_PATH = str(Path(__file__).with_name("_runner.py"))
SUPERVISOR_PATH = str(Path(__file__).with_name("_supervisor.py"))
LANDLOCK_PATH = str(Path(__file__).with_name("landlock.py"))


@dataclass
class HostContext:
    """Per-process host facts a worker needs beyond the probe report (cached; see `host_context`)."""

    root: Path
    cgroups: cgroups.CgroupSupport
    proc_children: bool = True
    """Whether /proc/<pid>/task/<tid>/children exists, so the host can find and attach a sandbox's processes."""


_ctx_lock = threading.Lock()
_contexts: dict[str, HostContext] = {}


def host_context(runtime_dir: str | os.PathLike[str] | None = None) -> HostContext:
    """The host facts for this runtime dir, found once per process; the first call also sweeps up what
    crashed owners left behind."""
    key = str(runtime_dir or "")
    with _ctx_lock:
        if key not in _contexts:
            root = _runtime.runtime_dir(runtime_dir)
            support = cgroups.detect()
            _runtime.sweep_once(root, support)
            tid = threading.get_native_id()
            children = os.path.exists(f"/proc/{os.getpid()}/task/{tid}/children")
            _contexts[key] = HostContext(root=root, cgroups=support, proc_children=children)
        return _contexts[key]


_pyc_lock = threading.Lock()
_pyc_paths: dict[tuple[str, str], str] = {}


def runner_pyc(root: Path, source: str = RUNNER_PATH, inside: str = bwrap.INSIDE_RUNNER) -> str:
    """A runner module compiled once per version into the runtime dir: a script is otherwise re-compiled at
    every start (~2 ms). Frames keep the in-sandbox name, so tracebacks can still tell the runner's frames apart."""
    with _pyc_lock:
        cached = _pyc_paths.get((str(root), source))
        if cached and os.path.exists(cached):
            return cached
        data = Path(source).read_bytes()
        digest = hashlib.sha256(data + sys.version.encode()).hexdigest()[:16]
        target = root / f"{Path(source).stem.lstrip('_')}-{digest}.pyc"
        if not target.exists():
            tmp = root / f".runner-{os.getpid()}-{threading.get_ident()}.pyc"
            py_compile.compile(source, cfile=str(tmp), dfile=inside, doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        _pyc_paths[(str(root), source)] = str(target)
        return str(target)


class _Spawner:
    """Starts long-lived sandboxes from one long-lived thread.

    The parent-death signal (bwrap's --die-with-parent, the tier B runner's PR_SET_PDEATHSIG) fires when the
    *thread* that forked the process exits, not the process: a session or pooled sandbox started from a
    short-lived thread (a pool's pre-start thread, a server's worker) would be SIGKILLed when that thread
    ends. Such spawns are handed to this thread, which lives as long as the process.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def call(self, fn: Callable[[], Any]) -> Any:
        if threading.current_thread() is threading.main_thread():
            return fn()  # the main thread ends only with the process
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="nativa-sandbox-spawner", daemon=True)
                self._thread.start()
        future: Future[Any] = Future()
        self._queue.put((fn, future))
        return future.result()

    def _loop(self) -> None:
        while True:
            fn, future = self._queue.get()
            try:
                future.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller
                future.set_exception(exc)


spawner = _Spawner()
