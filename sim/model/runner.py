"""Entry point the engine calls: one replicate of one configuration -> plain tables.

Why here: the engine ships a resolved plain dict and a replicate id to a worker process; this
function turns the dict into a validated ``Config`` (once per process and configuration), takes
the terrain from the per-process cache, runs the model and returns plain columns. It knows nothing
of files or executors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_CONFIGS: dict[str, Any] = {}


@dataclass
class ReplicateOutput:
    """One replicate's results as plain columns (no files, no executors).

    Attributes:
        run: outcome columns of one ``runs.parquet`` row.
        timeseries: equal-length columns, one row per simulated day (includes ``day``).
        incidents: equal-length columns, one row per incident.
    """

    run: dict[str, Any]
    timeseries: dict[str, np.ndarray] = field(default_factory=dict)
    incidents: dict[str, np.ndarray] = field(default_factory=dict)


def config_object(config: dict[str, Any]):
    """The validated Config for a resolved dict, built once per process and configuration."""
    key = json.dumps(config, sort_keys=True, default=str)
    cfg = _CONFIGS.get(key)
    if cfg is None:
        from sim.config.load import config_from_dict

        if len(_CONFIGS) > 64:
            _CONFIGS.clear()
        # The parent validated this dict before submitting it; types are still checked here.
        cfg = config_from_dict(config, validate=False)
        _CONFIGS[key] = cfg
    return cfg


def build_model(config: dict[str, Any], replicate: int):
    """A ready-to-run SecurityGapModel for a resolved config dict and replicate id."""
    from sim.model.model import SecurityGapModel

    return SecurityGapModel(config_object(config), replicate)


def run_replicate(config: dict[str, Any], replicate: int) -> ReplicateOutput:
    """Run one replicate of ``config`` (a resolved plain dict) and return its tables."""
    from sim.validation.posterior import overlay  # issue 15 hook: parameters=posterior

    config, drawn = overlay(config, replicate)  # (unchanged config, {}) for parameters=point
    model = build_model(config, replicate)
    model.run()
    return ReplicateOutput(run={**model.outcomes(), **drawn}, timeseries=model.recorder.timeseries_table(),
                           incidents=model.incidents.table())
