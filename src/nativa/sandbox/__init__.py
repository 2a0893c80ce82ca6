"""OS-level isolation for model-written code: it never runs in nativa's own process.

    from nativa.sandbox import Sandbox, SandboxSession, SandboxPool, RunResult, probe

    r = Sandbox().run("print(1)")                 # a fresh sandbox per run
    with SandboxSession() as s:                   # one interpreter across snippets, like a notebook
        s.run("x = 1"); s.run("print(x)")
    probe().tier                                  # "A" | "B" | "weak" | "none"

Tier A is bubblewrap + an unprivileged uid + seccomp + rlimits + cgroups; tier B is Landlock + seccomp +
rlimits + uid drop where bwrap cannot run; anything weaker is refused unless explicitly allowed.
"""

from nativa.sandbox.limits import Limits
from nativa.sandbox.pool import SandboxPool
from nativa.sandbox.probe import ProbeReport, probe
from nativa.sandbox.result import RunResult
from nativa.sandbox.sandbox import Sandbox
from nativa.sandbox.session import SandboxSession

__all__ = ["Limits", "ProbeReport", "RunResult", "Sandbox", "SandboxPool", "SandboxSession", "probe"]
