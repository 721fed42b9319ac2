"""The plan of a run: its points, their identities and their order in the tables. O(points).

Why: run ids, resume and compaction all need the same facts about each point -- its hash (which
covers config, input files and model version, see ``identity``), what that hash covers (stored
with the results, so a later run can say why they are not resumed) and where its rows go in the
sorted tables. Computing them once per point, never per replicate, is what keeps planning a
million replicates cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sim.engine.identity import config_hash, input_digests, model_version, point_hash
from sim.engine.results import Point
from sim.engine.store import ResultStore

#: The config key holding a replicate's horizon in model-days (for the cost estimate).
HORIZON_KEY = "days"


def _sortable(value: Any) -> tuple[int, Any]:
    """Sort key for label values of mixed types (None < numbers < strings < others)."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool | int | float):
        return (1, float(value))
    if isinstance(value, str):
        return (2, value)
    return (3, str(value))


class Plan:
    """The experiment's points, their identities and their order in the tables. O(points)."""

    def __init__(self, points: Sequence[Point], runner: str) -> None:
        self.points = [self._with_scenario(p) for p in points]
        self.runner = runner
        self.version = model_version(runner)
        self.inputs = [input_digests(p.config) for p in self.points]
        self.hashes = [
            point_hash(p.config, self.version, inputs)
            for p, inputs in zip(self.points, self.inputs, strict=True)
        ]
        seen: dict[str, int] = {}
        for i, h in enumerate(self.hashes):
            if h in seen:
                raise ValueError(
                    f"points {seen[h]} and {i} have the same model config (labels "
                    f"{self.points[seen[h]].labels} and {self.points[i].labels}); drop duplicates"
                )
            seen[h] = i
        self.label_keys: list[str] = []
        for p in self.points:
            self.label_keys += [k for k in p.labels if k not in self.label_keys]
        keys = [tuple(_sortable(p.labels.get(k)) for k in self.label_keys) for p in self.points]
        self.order = sorted(range(len(self.points)), key=lambda i: keys[i])

    @staticmethod
    def _with_scenario(point: Point) -> Point:
        if "scenario" in point.labels:
            return point
        name = (point.config.get("scenario") or {}).get("name", "default")
        return Point(point.config, {"scenario": name, **point.labels})

    def horizon(self, i: int) -> int | None:
        value = self.points[i].config.get(HORIZON_KEY)
        return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    def describe(self, i: int) -> dict[str, Any]:
        """What point ``i``'s hash covers (stored with its results)."""
        return {
            "config": config_hash(self.points[i].config),
            "inputs": {k: v["sha256"] for k, v in self.inputs[i].items()},
            "model_version": self.version,
        }

    def stale_notes(self, store: ResultStore, counts: Sequence[int]) -> list[str]:
        """Why results of the same configuration in the folder are not resumed, if they exist."""
        stored = store.stored_points()
        notes = []
        for i, h in enumerate(self.hashes):
            mine = self.describe(i)
            if h in stored or store.done_mask(h, max(counts[i], 1)).any():
                continue
            for other, info in stored.items():
                if other == h or info.get("config") != mine["config"]:
                    continue
                changes = [
                    f"{key}: sha256 {str(old)[:12]} -> {str(mine['inputs'].get(key))[:12]}"
                    for key, old in (info.get("inputs") or {}).items()
                    if mine["inputs"].get(key) != old
                ]
                if info.get("model_version") != mine["model_version"]:
                    changes.append(
                        f"model version {info.get('model_version')} -> {mine['model_version']}"
                    )
                if changes:
                    notes.append(
                        f"{store.out_dir}: results of {self.points[i].labels} were computed with "
                        f"other inputs ({'; '.join(changes)}); they are not resumed, all "
                        f"{counts[i]} replicates are computed again"
                    )
                    break
        return notes

    def identity(self) -> dict[str, Any]:
        inputs: dict[str, Any] = {}
        for digests in self.inputs:
            for key, entry in digests.items():
                inputs.setdefault(key, entry)
        return {"model_version": self.version, "inputs": inputs, "point_hashes": self.hashes}
