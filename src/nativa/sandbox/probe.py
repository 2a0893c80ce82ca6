"""What isolation this host offers, decided once per process and reported, never silently downgraded.

The probe does not trust `which bwrap`: tier A counts only after a real sandbox has started, run the
interpreter as the sandbox uid and reported the same `sys.version` as the host (a 0700 parent directory
makes the loader fall back to another libpython without any error). Tier B needs Landlock, seccomp and
an interpreter that an unprivileged uid can reach without bind mounts. Anything less is "weak" (some
layers on Linux) or "none".
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from nativa.sandbox import cgroups, landlock, seccomp, workdir
from nativa.sandbox.bwrap import Interpreter, host_interpreter

Tier = Literal["A", "B", "weak", "none"]
TIER_ORDER: tuple[Tier, ...] = ("A", "B", "weak", "none")

_BASE_LAYERS = ["rlimits", "clearenv", "die-with-parent"]


@dataclass
class ProbeReport:
    """The best tier on this host, its layers, and the facts (and reasons) behind the choice."""

    tier: Tier
    layers: list[str]
    available: list[Tier]
    is_root: bool
    bwrap: str | None = None
    setpriv: bool = False
    seccomp: bool = False
    landlock_abi: int = 0
    cgroup_version: int | None = None
    cgroup_layers: list[str] = field(default_factory=list)
    interpreter: dict[str, str] = field(default_factory=dict)
    interpreter_b: dict[str, str] | None = None
    notes: list[str] = field(default_factory=list)
    workdir_tmpfs: bool = False
    """Whether tiers B and weak put each sandbox's work dir and /tmp on a capped tmpfs of its own."""

    def to_dict(self) -> dict[str, Any]:
        """The whole report as JSON: `nativa doctor --json` prints it, so a host's weaknesses can be checked
        by a script."""
        return asdict(self)

    def layers_for(self, tier: Tier, *, allow_network: bool = False) -> list[str]:
        """The layers a run in `tier` has (the network ones drop out when the run asks for the network)."""
        if tier == "A":
            layers = ["bwrap", "mount-ns", "pid-ns", "ipc-ns", "uts-ns", "net-ns"]
            layers += ["uid-drop", "caps-dropped"] if self.is_root else ["user-ns"]
            layers += ["no-new-privs", "seccomp", "no-inet-sockets"]
        elif tier == "B":
            abi = self.landlock_abi
            layers = ["landlock-fs"] + (["landlock-net"] if abi >= 4 else []) + (["landlock-scope"] if abi >= 6 else [])
            layers += (["uid-drop", "caps-dropped"] if self.is_root else []) + ["no-new-privs", "seccomp",
                                                                               "no-inet-sockets", "no-unix-sockets"]
            layers.append("tmpfs-workdir" if self.workdir_tmpfs else "disk-budget")
        elif tier == "weak":
            layers = (["uid-drop", "caps-dropped"] if self.is_root and self.interpreter_b else [])
            layers += ["no-new-privs"] + (["seccomp", "no-inet-sockets", "no-unix-sockets"] if self.seccomp else [])
            layers.append("tmpfs-workdir" if self.workdir_tmpfs else "disk-budget")
        else:
            layers = []
        if allow_network:
            layers = [x for x in layers if x not in ("net-ns", "landlock-net", "no-inet-sockets")]
            if tier == "A" and "seccomp" in layers:
                layers.insert(layers.index("seccomp") + 1, "no-unix-sockets")  # the host's abstract sockets
        return layers + _BASE_LAYERS + list(self.cgroup_layers) if tier != "none" else ["rlimits"]


_lock = threading.Lock()
_cached: ProbeReport | None = None


def probe(*, refresh: bool = False) -> ProbeReport:
    """The host's isolation report, computed once per process (the tier A trial costs ~30 ms)."""
    global _cached
    with _lock:
        if _cached is None or refresh:
            _cached = _probe()
        return _cached


def _probe() -> ProbeReport:
    is_root = os.geteuid() == 0
    notes: list[str] = []
    if platform.system() != "Linux":
        return ProbeReport(tier="none", layers=["rlimits"], available=["none"], is_root=is_root,
                           notes=[f"{platform.system()} has no namespaces, seccomp or Landlock"])
    bw = shutil.which("bwrap")
    bw_version = _bwrap_version(bw) if bw else None
    if not bw:
        notes.append("bubblewrap (bwrap) is not installed: install the Debian package 'bubblewrap' for tier A")
    has_setpriv = os.access("/usr/bin/setpriv", os.X_OK)
    if is_root and not has_setpriv:
        notes.append("/usr/bin/setpriv is missing (util-linux): tier A cannot drop root")
    has_seccomp = seccomp.available()
    if not has_seccomp:
        notes.append("pyseccomp/libseccomp is unavailable: no seccomp filter (install libseccomp2)")
    abi = landlock.abi_version()
    if abi < 1:
        notes.append("Landlock is not enabled in this kernel: no tier B")
    cg = cgroups.detect()
    notes += cg.notes
    interp = host_interpreter()
    interp_b = _tier_b_interpreter(interp, is_root, notes)
    report = ProbeReport(
        tier="none", layers=[], available=[], is_root=is_root, bwrap=bw_version, setpriv=has_setpriv,
        seccomp=has_seccomp, landlock_abi=abi, cgroup_version=cg.version, cgroup_layers=cg.layers,
        interpreter=asdict(interp), interpreter_b=asdict(interp_b) if interp_b else None, notes=notes,
        workdir_tmpfs=workdir.can_mount(),
    )
    available: list[Tier] = []
    if bw and has_seccomp and (has_setpriv or not is_root):
        problem = _trial_tier_a(report)
        if problem is None:
            available.append("A")
        else:
            notes.append(f"tier A trial failed: {problem}")
    if abi >= 1 and has_seccomp and interp_b is not None:
        available.append("B")
    available += ["weak", "none"]
    report.available = available
    report.tier = available[0]
    report.layers = report.layers_for(report.tier)
    return report


def _bwrap_version(path: str) -> str | None:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _tier_b_interpreter(host: Interpreter, is_root: bool, notes: list[str]) -> Interpreter | None:
    """Without bind mounts the sandbox uid must reach the interpreter on the host's own paths."""
    if not is_root or host.visible_to_others():
        return host
    minor = f"{sys.version_info.major}.{sys.version_info.minor}"
    for exe in (f"/usr/bin/python{minor}", f"/usr/local/bin/python{minor}", "/usr/bin/python3",
                "/usr/local/bin/python3"):
        cand = Interpreter(executable=os.path.realpath(exe), prefix="", version="")
        if not os.path.exists(exe) or not cand.visible_to_others():
            continue
        try:
            out = subprocess.run([cand.executable, "-I", "-S", "-c", "import sys; print(sys.prefix); print(sys.version)"],
                                 capture_output=True, text=True, timeout=20, check=False)
        except (OSError, subprocess.SubprocessError):
            continue
        if out.returncode == 0:
            prefix, _, version = out.stdout.partition("\n")
            notes.append(f"{host.executable} is not reachable by an unprivileged uid; tiers B/weak use {exe}")
            return Interpreter(executable=cand.executable, prefix=prefix.strip(), version=version.strip())
    notes.append(f"{host.executable} is not reachable by an unprivileged uid and no system python is: no tier B")
    return None


def trial_run(report: ProbeReport, tier: Tier, code: str) -> str:
    """Run `code` once in `tier` with default limits and return its stdout."""
    from nativa.errors import SandboxError
    from nativa.sandbox._host import host_context
    from nativa.sandbox._worker import SpawnSpec, Worker
    from nativa.sandbox.limits import Limits

    limits = Limits()
    worker = Worker(report, SpawnSpec(tier=tier, mode="oneshot", allow_network=False, limits=limits),
                    host_context())
    try:
        raw = worker.execute({"code": code, "limits": limits.runner_limits(), "max_files_out": 0},
                             timeout_s=10.0, max_output_bytes=100_000, max_result_bytes=1_000_000)
    finally:
        worker.close()
    if raw.done is None or not raw.done.get("ok"):
        detail = (raw.done or {}).get("error_message") or raw.stderr.decode("utf-8", "replace")[-500:]
        raise SandboxError(f"trial run failed: {detail or raw.killed_by or raw.exit_status}")
    return raw.stdout.decode("utf-8", "replace")


def _trial_tier_a(report: ProbeReport) -> str | None:
    """Start one real tier A sandbox and check who and what runs inside; None when all is as expected."""
    code = "import os, sys\nprint(sys.version)\nprint(os.getuid())\n"
    try:
        out = trial_run(report, "A", code)
    except Exception as exc:  # noqa: BLE001 - any failure means "no tier A", and the reason is reported
        return f"{type(exc).__name__}: {exc}"
    lines = out.splitlines()
    if not lines or lines[0] != sys.version.splitlines()[0]:
        return (f"the sandbox ran another Python ({lines[0] if lines else 'nothing'!r} instead of "
                f"{sys.version.splitlines()[0]!r}): a parent directory of the interpreter is not traversable")
    if report.is_root and (len(lines) < 2 or lines[1] == "0"):
        return "code ran as root inside the sandbox"
    return None
