"""Tier choice on the real host: CI must get tier A; the interpreter inside is the host's; weak runs warn."""

from __future__ import annotations

import json
import logging
import os
import sys

import pytest

from nativa.sandbox import Sandbox, probe

pytestmark = pytest.mark.integration


@pytest.mark.skipif(os.environ.get("CI", "").lower() != "true", reason="tier A is required under CI=true only")
def test_ci_requires_tier_a() -> None:
    report = probe()
    assert report.tier == "A", f"CI runs with a downgraded sandbox (tier {report.tier}): {report.notes}"
    for layer in ("bwrap", "pid-ns", "net-ns", "seccomp", "no-new-privs", "rlimits"):
        assert layer in report.layers


def test_probe_report_is_json_and_consistent() -> None:
    report = probe()
    data = json.loads(json.dumps(report.to_dict()))
    assert data["tier"] == report.available[0] and data["layers"] == report.layers
    assert report.tier in ("A", "B", "weak", "none")
    if report.tier == "A":
        assert report.bwrap and "bwrap" in report.layers


def test_tier_a_runs_the_hosts_own_interpreter_as_an_unprivileged_uid() -> None:
    if "A" not in probe().available:
        pytest.skip("no tier A here")
    r = Sandbox(tier="A").run("import os, sys\nprint(sys.version)\nprint(os.getuid(), os.getgid(), os.getgroups())")
    version, ids = r.stdout.splitlines()
    assert version == sys.version.splitlines()[0]  # the 0700-parent trap would show another Python here
    uid, gid, groups = ids.split(" ", 2)
    assert int(uid) != 0 and int(gid) != 0 and groups == "[]"


def test_weak_tier_warns_on_every_run(caplog: pytest.LogCaptureFixture) -> None:
    if "weak" not in probe().available:
        pytest.skip("no weak tier")
    sandbox = Sandbox(tier="weak", allow_weak=True)
    with caplog.at_level(logging.WARNING, logger="nativa.sandbox"):
        assert sandbox.run("print(1)").ok
        assert sandbox.run("print(2)").ok
    warnings = [rec for rec in caplog.records if "WEAK sandbox" in rec.getMessage()]
    assert len(warnings) == 2
