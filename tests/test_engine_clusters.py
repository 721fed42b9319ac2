"""Clusters: a two-node Ray cluster on loopback and Slurm array jobs (submitit's local executor)
give exactly the tables of ``workers=1``; and the README's cluster recipes run as written.

The Ray cluster is ``ray.cluster_utils.Cluster`` (a head and a second node joining it) hosted by
a helper process for this module, on 127.0.0.1 only (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``
keeps every Ray address on loopback). Its workers never see the run folder: they return their
results to the driver, which alone writes (the folder is a path in this test's temp dir).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from test_engine_support import TESTS_DIR, base_config, write_control

from sim.engine.experiment import Point, run_experiment
from sim.engine.reproduce import compare_tables
from tests.conftest import group_gone

REPO = Path(__file__).resolve().parents[1]
GAPSIM = Path(sys.executable).with_name("gapsim")
NODE_RUNNER = "test_engine_support:node_replicate"
FAST = ["terrain=qarachogh_coarse", "days=3", "replicates=3"]

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray not installed")
needs_submitit = pytest.mark.skipif(
    importlib.util.find_spec("submitit") is None, reason="submitit not installed"
)

#: Environment of every process of the Ray tests: loopback only, patient with a busy machine
#: (the node's agents may take more than the default 15 s to start), no uv runtime env.
RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_agent_register_timeout_ms": "180000",
    "RAY_raylet_start_wait_time_s": "180",
    "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
    "PYTHONPATH": str(TESTS_DIR),
}

HOST = textwrap.dedent(
    """
    import json, sys
    from ray.cluster_utils import Cluster
    cluster = Cluster(initialize_head=True,
                      head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    print(json.dumps({"address": cluster.address}), flush=True)
    sys.stdin.read()  # until the test closes it
    cluster.shutdown()
    """
)


def readme_command(recipe: str) -> list[str]:
    """The ``gapsim`` line of a README recipe, as arguments after ``gapsim``."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split(f"<!-- tested recipe: {recipe}", 1)[1].split("```bash", 1)[1]
    block = block.split("```", 1)[0]
    (line,) = [ln for ln in block.splitlines() if ln.startswith("uv run gapsim ")]
    return line.split("#", 1)[0].split()[3:]


def with_overrides(args: list[str], **values: str) -> list[str]:
    """Replace ``key=...`` arguments (or append them)."""
    out = [a for a in args if a.split("=", 1)[0] not in values]
    return out + [f"{k}={v}" for k, v in values.items()]


def cli(*args: str) -> tuple[int, str, str]:
    from sim.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


# -------------------------------------------------------------------------------------- Ray


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """A two-node Ray cluster on loopback for this module; yields its address."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOST],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **RAY_ENV},
        start_new_session=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line:
            pytest.fail(f"the Ray cluster did not start: {proc.communicate(timeout=60)[1][-2000:]}")
        address = json.loads(line)["address"]
        assert address.startswith("127.0.0.1:"), address
        yield address
    finally:
        with contextlib.suppress(Exception):
            proc.communicate(input="", timeout=120)
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.communicate()
        assert group_gone(proc.pid, timeout=30), "the Ray cluster outlived its test module"


DRIVER = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {tests!r})
    from sim.engine.experiment import Point, run_experiment
    points = [Point(c, l) for c, l in json.loads(sys.argv[3])]
    res = run_experiment(points, sys.argv[2], replicates=4, workers=0, progress=None,
                         executor={{"name": "ray", "address": sys.argv[1]}},
                         runner="test_engine_support:node_replicate")
    print(json.dumps({{"ok": res.ok, "done": res.done}}))
    """
).format(tests=str(TESTS_DIR))


def two_points(control: Path) -> list[Point]:
    return [
        Point(base_config(15, "baseline", test_control=str(control)), {"scenario": "baseline"}),
        Point(
            base_config(15, "liaison", coordination="liaison", test_control=str(control)),
            {"scenario": "liaison"},
        ),
    ]


@needs_ray
def test_two_node_ray_cluster_gives_the_tables_of_one_worker(
    ray_cluster: str, tmp_path: Path
) -> None:
    """A driver joins the two-node cluster by address; tasks run on both nodes; the run folder
    (written by the driver alone) holds the same tables as a local run on one worker."""
    control = write_control(tmp_path / "control.json", sleep_s=0.3)
    points = two_points(control)
    payload = json.dumps([[p.config, p.labels] for p in points])
    res = subprocess.run(
        [sys.executable, "-c", DRIVER, ray_cluster, str(tmp_path / "ray"), payload],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **RAY_ENV},
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads(res.stdout.strip().splitlines()[-1]) == {"ok": True, "done": 8}
    one = run_experiment(points, tmp_path / "one", replicates=4, workers=1, progress=None,
                         runner=NODE_RUNNER)
    assert one.ok
    assert compare_tables(tmp_path / "one", tmp_path / "ray", ignore_columns=["node"]) == []
    nodes = set(pd.read_parquet(tmp_path / "ray" / "runs.parquet").node)
    assert len(nodes) == 2 and "local" not in nodes, nodes  # both nodes did work


@needs_ray
@pytest.mark.slow  # budget: about 1 min idle (the real model on the cluster, then on one worker)
def test_readme_ray_recipe_runs_as_written(ray_cluster: str, tmp_path: Path) -> None:
    """The README's gapsim line for a Ray cluster, with the cluster's address, a small run and a
    temporary folder, gives the tables of the same run on one local worker."""
    args = readme_command("ray")
    assert "executor=ray" in args and "executor.address=<head-ip>:6379" in args
    args = [a.replace("<head-ip>:6379", ray_cluster) for a in args]
    args = with_overrides(args, **dict(a.split("=", 1) for a in FAST),
                          **{"hydra.run.dir": str(tmp_path / "ray")})
    res = subprocess.run([str(GAPSIM), *args], capture_output=True, text=True, timeout=900,
                         cwd=REPO, env={**os.environ, **RAY_ENV})
    assert res.returncode == 0, res.stderr[-3000:]
    assert "3 replicates computed" in res.stdout
    code, _, err = cli("run", *FAST, "workers=1", f"hydra.run.dir={tmp_path / 'one'}")
    assert code == 0, err
    assert compare_tables(tmp_path / "one", tmp_path / "ray") == []


# ------------------------------------------------------------------------------------ Slurm


@needs_submitit
def test_submitit_array_jobs_give_the_tables_of_one_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replicate batches as submitit array jobs (its local executor: the same job files and
    processes as on Slurm, without a cluster) give the tables of one local worker."""
    monkeypatch.setenv("PYTHONPATH", str(TESTS_DIR))  # the jobs import the test runner
    control = write_control(tmp_path / "control.json")
    points = two_points(control)
    spec = {"name": "slurm", "options": {"cluster": "local", "folder": str(tmp_path / "jobs"),
                                         "poll_s": 0.2, "timeout_min": 10}}
    slurm = run_experiment(points, tmp_path / "slurm", replicates=4, workers=2, executor=spec,
                           progress=None, runner=NODE_RUNNER)
    run_experiment(points, tmp_path / "one", replicates=4, workers=1, progress=None,
                   runner=NODE_RUNNER)
    assert slurm.ok and slurm.done == 8
    assert compare_tables(tmp_path / "one", tmp_path / "slurm") == []
    results = list((tmp_path / "jobs").glob("*_result.pkl"))
    assert 0 < len(results) < 8, results  # tasks hold batches of replicates, not one each
    assert not list((tmp_path / "slurm").glob(".submitit")), "jobs went to the folder given"


@needs_submitit
@pytest.mark.slow  # budget: about 1 min idle (a Python process per array task, the real model)
def test_readme_slurm_recipe_runs_as_written_on_the_local_executor(tmp_path: Path) -> None:
    """The README's gapsim line for Slurm, with ``executor.options.cluster=local`` (the dry run
    the README describes), a small run and a temporary folder, gives the tables of one worker."""
    args = readme_command("slurm")
    assert "executor=slurm" in args
    args = [a for a in args if not re.search(r"<\w+>", a)]  # placeholders (partition)
    args = with_overrides(args, **dict(a.split("=", 1) for a in FAST),
                          **{"executor.options.cluster": "local", "workers": "2",
                             "hydra.run.dir": str(tmp_path / "slurm")})
    res = subprocess.run([str(GAPSIM), *args], capture_output=True, text=True, timeout=900,
                         cwd=REPO)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "3 replicates computed" in res.stdout
    assert list((tmp_path / "slurm" / ".submitit").glob("*_result.pkl"))
    code, _, err = cli("run", *FAST, "workers=1", f"hydra.run.dir={tmp_path / 'one'}")
    assert code == 0, err
    assert compare_tables(tmp_path / "one", tmp_path / "slurm") == []
