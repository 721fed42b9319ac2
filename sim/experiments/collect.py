"""Gather a Hydra multirun's job directories into one sweep table.

Why: ``gapsim run -m gap_width_km=1,3,5 coordination=none,joint_brigades`` runs one job per
point (with any launcher: basic, joblib, submitit on Slurm) and each job writes its own
``runs.parquet``. The collector turns them into the same tidy table ``gapsim sweep`` writes:
``design_point`` (Hydra's job number, i.e. the order of the sweep's cartesian product, the first
swept key varying slowest), one column per swept key (typed as in the job's resolved config) and
every outcome, one row per design point and replicate.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from sim.errors import ConfigError


def _job_dirs(root: Path) -> list[Path]:
    """Directories under ``root`` holding a Hydra job record (``.hydra/overrides.yaml``)."""
    return sorted({p.parent.parent for p in root.rglob(".hydra/overrides.yaml")})


def _read_yaml(path: Path) -> Any:
    from sim.config.yaml_files import load_yaml

    return load_yaml(path, "Hydra job record")  # bounded and safe (a sweep folder is input too)


def _job_number(num: Any, hydra_yaml: Path) -> int | None:
    if num is None:
        return None
    try:
        return int(num)
    except (TypeError, ValueError):
        raise ConfigError(
            "collect", str(hydra_yaml), f"hydra.job.num is {num!r}, not a multirun job number"
        ) from None


def _value_at(config: dict[str, Any], key: str) -> Any:
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def collect_multirun(root: str | os.PathLike[str], table: str = "runs") -> pd.DataFrame:
    """One table from every job of a multirun directory (``hydra.sweep.dir``).

    Args:
        root: the multirun directory.
        table: which per-job table to gather (``runs``, ``timeseries`` or ``incidents``).

    Returns:
        The jobs' rows with ``design_point`` and one column per swept key inserted after
        ``scenario``, sorted by design point then replicate (timeseries/incidents keep their own
        order within a replicate).

    Raises:
        ConfigError: no job directories, or a job without the table (unfinished or failed).
    """
    root = Path(root)
    if not root.is_dir():
        raise ConfigError("collect", str(root), "not a directory")
    jobs = _job_dirs(root)
    if root.resolve() in {j.resolve() for j in jobs} or (root / "shards").is_dir():
        raise ConfigError(
            "collect",
            str(root),
            "is the folder of a single run, not a multirun; collect gathers the numbered job "
            "folders of a multirun: give its hydra.sweep.dir (e.g. results/multirun/<timestamp>)",
        )
    if not jobs:
        raise ConfigError("collect", str(root), "holds no Hydra job directories (.hydra/)")
    records = []
    for job in jobs:
        overrides = _read_yaml(job / ".hydra" / "overrides.yaml") or []
        hydra = _read_yaml(job / ".hydra" / "hydra.yaml") or {}
        if not isinstance(hydra, dict) or not isinstance(overrides, list):
            raise ConfigError("collect", str(job / ".hydra"), "holds no Hydra job record; "
                              "rerun that job or remove its folder")
        num = _job_number(((hydra.get("hydra") or {}).get("job") or {}).get("num"),
                          job / ".hydra" / "hydra.yaml")
        records.append((job, overrides, num))
    swept = _swept_keys([r[1] for r in records])
    parts = []
    for position, (job, _, num) in enumerate(sorted(records, key=_job_order)):
        path = job / f"{table}.parquet"
        if not path.is_file():
            raise ConfigError(
                "collect",
                str(job),
                f"has no {table}.parquet (job failed or unfinished; rerun the multirun to finish)",
            )
        try:
            frame = pd.read_parquet(path)
        except (OSError, ValueError) as err:  # pyarrow's errors derive from these
            raise ConfigError("collect", str(path), f"cannot be read ({type(err).__name__}); "
                              "rerun that job (same command, same hydra.sweep.dir)") from None
        config = _read_yaml(job / "config.yaml") or _read_yaml(job / ".hydra" / "config.yaml")
        at = list(frame.columns).index("scenario") + 1 if "scenario" in frame.columns else 0
        frame.insert(at, "design_point", num if num is not None else position)
        for i, key in enumerate(swept):
            frame.insert(at + 1 + i, key, _value_at(config or {}, key))
        parts.append(frame)
    out = pd.concat(parts, ignore_index=True)
    if table == "runs":
        out = out.sort_values(["design_point", "replicate"], kind="stable")
    return out.reset_index(drop=True)


def _job_order(record: tuple[Path, list[str], Any]) -> tuple[int, str]:
    job, _, num = record
    return (int(num) if num is not None else 1 << 30, str(job))


def _swept_keys(override_lists: Sequence[Sequence[str]]) -> list[str]:
    """Keys whose override value differs between jobs, in command-line order."""
    values: dict[str, set[str]] = {}
    order: list[str] = []
    for overrides in override_lists:
        for item in overrides:
            key, _, value = str(item).partition("=")
            key = key.lstrip("+~")
            if key.startswith("hydra"):
                continue
            if key not in values:
                values[key] = set()
                order.append(key)
            values[key].add(value)
    n = len(override_lists)
    return [
        k for k in order if len(values[k]) > 1 or sum(1 for o in override_lists if _has(o, k)) < n
    ]


def _has(overrides: Sequence[str], key: str) -> bool:
    return any(str(o).partition("=")[0].lstrip("+~") == key for o in overrides)


def write_table(frame: pd.DataFrame, out_dir: Path, stem: str = "sweep") -> tuple[Path, Path]:
    """``<stem>.parquet`` (zstd) and ``<stem>.csv``, each written atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    parquet = out_dir / f"{stem}.parquet"
    csv = out_dir / f"{stem}.csv"
    tmp = out_dir / f"_{stem}.parquet.tmp"
    frame.to_parquet(tmp, compression="zstd", index=False)
    os.replace(tmp, parquet)
    tmp = out_dir / f"_{stem}.csv.tmp"
    frame.to_csv(tmp, index=False)
    os.replace(tmp, csv)
    return parquet, csv
