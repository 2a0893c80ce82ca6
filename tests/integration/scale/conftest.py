"""A local Ray started once for this folder's tests, with the CPUs this machine has (Ray start-up costs
seconds on 2 cores, so the Ray tests share it). Without Ray the tests skip, except under CI=true, where
`make test` installs the extra and a missing Ray must fail."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="package")
def ray_cluster() -> Iterator[Any]:
    try:
        import ray
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("Ray is not installed but CI must run the Ray tests: pip install 'nativa[ray]'")
        pytest.skip("Ray is not installed (the extra nativa[ray])")
    ray.init(num_cpus=os.cpu_count() or 2, include_dashboard=False, log_to_driver=False)
    yield ray
    try:
        from ray import serve

        serve.shutdown()
    finally:
        ray.shutdown()
