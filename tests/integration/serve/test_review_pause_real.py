"""Review over real HTTP with the real sandbox: a run pauses before its risky candidate, the server stops, a
new server on the same file approves it, and the candidate runs in the sandbox exactly once (its side effect,
a line appended to a file in the work dir, is counted by the code itself)."""

from __future__ import annotations

import concurrent.futures as cf

import httpx
import pytest
from support.review_doubles import RecordingSandbox
from unit.serve.helpers import fenced, make_app

from nativa.config import Settings
from nativa.models import ScriptedModel
from nativa.sandbox import Sandbox
from nativa.serve.runner import ServerThread

pytestmark = pytest.mark.integration

# Risky by the policy (subprocess), harmless in the sandbox: it prints once per run of the candidate (the
# test calls add once; a top-level print would be dropped by extraction as example usage).
RISKY = ("import subprocess\n\n\n"
         "def add(a, b):\n"
         "    print(subprocess.run(['echo', 'ran once'], capture_output=True, text=True).stdout.strip())\n"
         "    return a + b\n")


def test_pause_restart_and_one_approval_run_the_candidate_once_in_the_real_sandbox(settings: Settings) -> None:
    sandbox = RecordingSandbox(Sandbox(allow_weak=settings.sandbox_allow_weak))
    model = ScriptedModel([fenced(RISKY)], name="small")
    body = {"task": "add two numbers", "tests": "assert add(2, 3) == 5\n", "candidates": 1, "review": "risky"}
    try:
        with ServerThread(make_app(settings, model, sandbox=sandbox)) as first:
            paused = httpx.post(first.url + "/v1/code", json=body, timeout=60)
        assert paused.status_code == 202, paused.text
        run = paused.json()
        assert {f["rule"] for f in run["findings"]} == {"subprocess"} and sandbox.runs == 0

        with ServerThread(make_app(settings, model, sandbox=sandbox)) as second:  # after a restart
            url = f"{second.url}/v1/runs/{run['run_id']}/approve"
            with cf.ThreadPoolExecutor(3) as pool:  # three approvals at once: one runs it
                answers = list(pool.map(lambda _: httpx.post(url, json={"code_hash": run["code_hash"]},
                                                             timeout=60), range(3)))
            assert sorted(a.status_code for a in answers) == [200, 409, 409]
            done = next(a.json() for a in answers if a.status_code == 200)
            assert done["status"] == "done" and done["result"]["success"]
            assert done["result"]["stdout"].strip() == "ran once"
            assert httpx.get(f"{second.url}/v1/runs/{run['run_id']}").json()["status"] == "done"
        assert sandbox.seen.count(RISKY) == 1 and sandbox.runs == 1  # the candidate, verbatim, once
    finally:
        sandbox.inner.close()
