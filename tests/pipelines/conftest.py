"""Fixtures for the tests that start a real local Ray (marked `ray`)."""
from __future__ import annotations

import pytest
import ray


@pytest.fixture(scope="module")
def local_ray():
    """One embedded 2-CPU Ray per test module, as `carding run` starts it on a laptop."""
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()
