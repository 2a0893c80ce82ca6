"""Fixtures for tests that run real sandboxes: every strong tier this host has, and leftover checks.

Each test that takes `tier` runs once per tier (A and B); a tier this host lacks is skipped with the
probe's reason, and `test_tiers.py::test_ci_requires_tier_a` makes a missing tier A fail under CI=true.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from support.promised import skip_promised

from nativa.sandbox import Sandbox, probe
from nativa.sandbox._runtime import uid_processes

STRONG_TIERS = ("A", "B")


@pytest.fixture(params=STRONG_TIERS)
def tier(request: pytest.FixtureRequest) -> str:
    report = probe()
    if request.param not in report.available:
        skip_promised(f"sandbox tier {request.param}",
                      f"tier {request.param} is not available on this host: {'; '.join(report.notes)}")
    return str(request.param)


@pytest.fixture
def sandbox(tier: str) -> Sandbox:
    return Sandbox(tier=tier)  # type: ignore[arg-type]


def _uid_from(stdout: str) -> int:
    match = re.search(r"^UID (\d+)$", stdout, re.MULTILINE)
    assert match, f"the code did not report its uid: {stdout[:300]!r}"
    return int(match.group(1))


@pytest.fixture
def sandbox_uid() -> Callable[[str], int]:
    """Parse the `UID <n>` line that test code prints first."""
    return _uid_from


@pytest.fixture
def assert_no_leftovers() -> Callable[..., None]:
    """Assert that no live process of `uid` remains (zombies are dead and do not count)."""

    def check(uid: int, *, wait_s: float = 3.0) -> None:
        assert uid >= 1000 or not probe().is_root, f"the code ran as a privileged uid {uid}"
        deadline = time.monotonic() + wait_s
        while True:
            left = uid_processes({uid})
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert not left, f"processes of sandbox uid {uid} survived the run: {sorted(left)}"

    return check
