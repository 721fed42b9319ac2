"""Helpers shared by the engine tests (this module defines no tests of its own).

Why here: worker processes import the replicate runner by dotted path
(``test_engine_support:controlled_replicate``), so the test runner must live in an importable module
on ``sys.path`` (pytest puts ``tests/`` there; subprocess scripts insert it themselves).

The runner's behaviour is steered by a JSON *control file* named in the config
(``config["test_control"]``) and read on every call: the file's path is part of the run id, its
content is not, so a test can slow replicates down, make one fail, and later let it succeed, all
under the same run ids.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.rng import KeyedRandom, scenario_salt

TESTS_DIR = Path(__file__).resolve().parent
RUNNER = "test_engine_support:controlled_replicate"

#: The stand-in model's version (the engine reads ``MODEL_VERSION`` from the runner's module or
#: its packages, as it does ``sim.model.MODEL_VERSION`` for the real runner).
MODEL_VERSION = 1


def base_config(days: int = 20, scenario: str = "baseline", **extra: Any) -> dict[str, Any]:
    """A small resolved config for the stub runner (run every engine test with ``RUNNER``)."""
    config: dict[str, Any] = {
        "seed": 20240611,
        "crn": True,
        "replicates": 4,
        "days": days,
        "workers": 2,
        "executor": {"name": "local", "address": None, "start_method": "forkserver"},
        "scenario": {"name": scenario},
        "precision": None,
        "min_replicates": 10,
        "max_replicates": 200,
        "retry_failed": False,
        "gap_width_km": 4.0,
        "coordination": "none",
        "model": {},
        "terrain": {},
    }
    config.update(extra)
    return config


def write_control(path: Path, **control: Any) -> Path:
    """(Re)write a control file: ``sleep_s``, ``sleep_per_day_s``, ``fail`` (replicate ids),
    ``marker_dir`` (one file per call, named ``<replicate>-<pid>-<random>``; ``stamp``: the
    file holds the wall-clock time of the call)."""
    path.write_text(json.dumps(control), encoding="utf-8")
    return path


@dataclass
class StubOutput:
    """Same shape as ``sim.model.runner.ReplicateOutput`` (all the store relies on)."""

    run: dict[str, Any]
    timeseries: dict[str, np.ndarray] = field(default_factory=dict)
    incidents: dict[str, np.ndarray] = field(default_factory=dict)


def stub_replicate(config: dict[str, Any], replicate: int) -> StubOutput:
    """A fast, deterministic stand-in for the model: fake outcomes from the replicate's streams.

    Depends only on (seed, replicate, scenario, crn, days, gap_width_km), like the real model.
    """
    salt = 0 if config["crn"] else scenario_salt(config["scenario"]["name"])
    keyed = KeyedRandom(int(config["seed"]), replicate, salt)
    days = int(config["days"])
    rng = keyed.generator("act")
    daily = rng.poisson(0.05 * (1 + float(config["gap_width_km"])), size=days)
    n = int(daily.sum())
    kinds = np.array(["kidnapping", "ambush", "fake_checkpoint", "arson"])
    day = np.repeat(np.arange(days, dtype=np.int32), daily)
    incidents = {
        "day": day,
        "t_hours": day * 24.0 + rng.uniform(0, 24, n),
        "x_km": rng.uniform(-5, 15, n),
        "zone": rng.choice(np.array(["GAP", "PLAIN", "RIDGE"]), n),
        "type": rng.choice(kinds, n),
        "casualties": rng.poisson(0.5, n).astype(np.int32),
    }
    run = {
        "incidents": n,
        "kidnappings": int((incidents["type"] == "kidnapping").sum()),
        "ambushes": int((incidents["type"] == "ambush").sum()),
        "airstrikes": int(keyed.generator("combat").poisson(0.2 * days)),
        "tips": int(keyed.generator("report").poisson(days)),
        "gap_control": float(keyed.generator("share").random()),
    }
    timeseries = {
        "day": np.arange(days, dtype=np.int32),
        "incidents": daily.astype(np.int32),
        "tips": keyed.generator("plans").poisson(1.0, days).astype(np.int32),
    }
    return StubOutput(run, timeseries, incidents)


def controlled_replicate(config: dict[str, Any], replicate: int) -> Any:
    """The stub runner, slowed down, failing or leaving markers as the control file says."""
    control_path = config.get("test_control")
    control = json.loads(Path(control_path).read_text()) if control_path else {}
    marker_dir = control.get("marker_dir")
    if marker_dir:
        Path(marker_dir).mkdir(parents=True, exist_ok=True)
        marker = Path(marker_dir) / f"{replicate}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        marker.write_text(repr(time.time()))
    if replicate in control.get("fail", []):
        raise RuntimeError(f"injected failure in replicate {replicate}")
    days = int(config.get("days", 0))
    time.sleep(float(control.get("sleep_s", 0.0)) + days * float(control.get("sleep_per_day_s", 0)))
    return stub_replicate(config, replicate)


def node_replicate(config: dict[str, Any], replicate: int) -> Any:
    """The stub runner, adding a ``node`` column: the Ray node it ran on ("local" outside Ray)."""
    out = controlled_replicate(config, replicate)
    node = "local"
    try:
        import ray

        if ray.is_initialized():
            node = ray.get_runtime_context().get_node_id()
    except ImportError:
        pass
    out.run["node"] = node
    return out


def markers(marker_dir: Path) -> dict[int, int]:
    """How many times each replicate was started."""
    counts: dict[int, int] = {}
    for p in marker_dir.glob("*"):
        rep = int(p.name.split("-", 1)[0])
        counts[rep] = counts.get(rep, 0) + 1
    return counts


def temp_files(out_dir: Path) -> list[Path]:
    """Leftover ``_``-prefixed temporary files anywhere under a result directory."""
    return [p for p in out_dir.rglob("_*") if p.is_file()]
