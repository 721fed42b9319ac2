"""The Ray executor gives exactly the tables the local process pool gives."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_engine_support import RUNNER, TESTS_DIR, base_config

from sim.engine.executors import RayExecutor, executor_spec
from sim.engine.experiment import Point, run_experiment
from sim.engine.reproduce import compare_tables
from sim.errors import ConfigError

HAVE_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(not HAVE_RAY, reason="ray is not installed (uv sync --extra ray)")


@pytest.fixture(scope="session")
def ray_session() -> Iterator[Any]:
    """A local two-CPU Ray for the whole session; workers can import the tests' runner module.

    ``RAY_ENABLE_UV_RUN_RUNTIME_ENV=0``: under ``uv run`` Ray would rebuild the environment for
    its workers from a packaged copy of the project (minutes); a local Ray shares ours.
    """
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    import ray

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(TESTS_DIR)}},
    )
    yield ray
    ray.shutdown()


def points() -> list[Point]:
    return [
        Point(base_config(15, "baseline"), {"scenario": "baseline"}),
        Point(base_config(15, "liaison", coordination="liaison"), {"scenario": "liaison"}),
    ]


@needs_ray
def test_ray_and_local_give_identical_tables(ray_session: Any, tmp_path: Path) -> None:
    ray_spec = {"name": "ray", "address": None, "start_method": "forkserver"}
    kwargs = {"replicates": 4, "workers": 2, "progress": None, "runner": RUNNER}
    on_ray = run_experiment(points(), tmp_path / "ray", executor=ray_spec, **kwargs)
    local = run_experiment(points(), tmp_path / "local", executor="local", **kwargs)
    assert on_ray.ok and on_ray.done == local.done == 8
    assert compare_tables(tmp_path / "ray", tmp_path / "local") == []
    assert ray_session.is_initialized()  # a session the executor did not start is left running


@needs_ray
def test_ray_executor_futures(ray_session: Any) -> None:
    with RayExecutor(workers=2) as executor:
        assert executor.max_workers == 2
        futures = [executor.submit(pow, 2, k) for k in range(5)]
        assert [f.result(timeout=60) for f in futures] == [1, 2, 4, 8, 16]


@needs_ray
def test_unreachable_address_fails_fast_with_the_address(monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    with pytest.raises(ConfigError, match=r"executor.address='127.0.0.1:9'.*no Ray cluster"):
        RayExecutor(workers=1, address="127.0.0.1:9")


@needs_ray
def test_unreachable_address_writes_nothing(tmp_path: Path) -> None:
    spec = {"name": "ray", "address": "ray://127.0.0.1:9", "start_method": "forkserver"}
    with pytest.raises(ConfigError, match="executor.address"):
        run_experiment(points(), tmp_path / "out", replicates=1, executor=spec, runner=RUNNER)
    assert not (tmp_path / "out").exists()


def test_missing_ray_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ConfigError, match="uv sync --extra ray"):
        executor_spec("ray")
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ConfigError, match="uv sync --extra ray"):
        RayExecutor()
