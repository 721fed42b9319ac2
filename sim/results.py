"""Finished output directories as objects: tables read on first use, as pandas DataFrames.

Why a module of its own: ``sim.api`` returns these after a run, compare or sweep, and anyone can
open an existing directory (``load(DIR)``) to read what a command wrote there without knowing
its file names. They only read files; nothing here runs the model or writes.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sim.errors import ConfigError


def _read(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist (did the command finish?)")
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


@dataclass(frozen=True)
class RunResult:
    """A finished run directory; tables are read on first use.

    Attributes:
        out_dir: the run directory (``config.yaml``, ``manifest.json``, tables, ``figures/``).
    """

    out_dir: Path

    @functools.cached_property
    def runs(self) -> pd.DataFrame:
        """One row per replicate (labels, ``replicate``, ``run_id``, every outcome)."""
        return _read(self.out_dir / "runs.parquet")

    @functools.cached_property
    def timeseries(self) -> pd.DataFrame:
        """One row per replicate and day."""
        return _read(self.out_dir / "timeseries.parquet")

    @functools.cached_property
    def incidents(self) -> pd.DataFrame:
        """One row per incident."""
        return _read(self.out_dir / "incidents.parquet")

    @functools.cached_property
    def summary(self) -> pd.DataFrame:
        """Mean and 95% interval per scenario and outcome (every numeric outcome)."""
        from sim.engine.stats import numeric_outcomes, summarise

        runs = self.runs
        return summarise(runs, by="scenario", outcomes=numeric_outcomes(runs, exclude=["run_id"]))

    @functools.cached_property
    def config(self) -> dict[str, Any]:
        """The resolved configuration (``config.yaml``)."""
        import yaml

        return yaml.safe_load((self.out_dir / "config.yaml").read_text())

    @functools.cached_property
    def manifest(self) -> dict[str, Any]:
        """Versions, git state, seeds, timings and the equivalent ``gapsim`` command."""
        return json.loads((self.out_dir / "manifest.json").read_text())

    @property
    def figures(self) -> list[Path]:
        """The PNG figures written (``figures/*.png``)."""
        return sorted((self.out_dir / "figures").glob("*.png"))


@dataclass(frozen=True)
class CompareResult(RunResult):
    """A finished comparison: the run tables plus the comparison's own tables and report."""

    @functools.cached_property
    def summary(self) -> pd.DataFrame:
        """Mean and 95% interval per scenario and outcome (``summary.csv``)."""
        return _read(self.out_dir / "summary.csv")

    @functools.cached_property
    def differences(self) -> pd.DataFrame:
        """Paired differences from the baseline with 95% intervals (``paired_differences.csv``)."""
        return _read(self.out_dir / "paired_differences.csv")

    @property
    def report(self) -> Path:
        """The self-contained HTML report."""
        return self.out_dir / "report.html"


@dataclass(frozen=True)
class SweepResult(RunResult):
    """A finished sweep: the sweep table, per-point summary, design, indices and figures."""

    @functools.cached_property
    def table(self) -> pd.DataFrame:
        """One row per design point and replicate: ``design_point``, factors, outcomes."""
        return _read(self.out_dir / "sweep.parquet")

    @functools.cached_property
    def summary(self) -> pd.DataFrame:
        """Per design point and outcome: mean and 95% interval (``summary.csv``)."""
        return _read(self.out_dir / "summary.csv")

    @functools.cached_property
    def design(self) -> pd.DataFrame:
        """The design: factor values (and unit coordinates) per design point."""
        return _read(self.out_dir / "design.csv")

    @functools.cached_property
    def indices(self) -> dict[str, pd.DataFrame]:
        """Sensitivity indices or effects the design produced, by file stem (may be empty)."""
        names = ("sobol_indices", "sobol_second_order", "morris_indices", "effects")
        return {n: _read(self.out_dir / f"{n}.csv") for n in names
                if (self.out_dir / f"{n}.csv").exists()}


def load(directory: str | Path) -> RunResult:
    """Open a finished output directory as ``SweepResult``, ``CompareResult`` or ``RunResult``."""
    path = Path(directory)
    if not (path / "config.yaml").is_file():
        raise ConfigError("directory", str(path), "not a gapsim output directory (no config.yaml)")
    if (path / "sweep.parquet").exists():
        return SweepResult(path)
    if (path / "scenarios.json").exists():
        return CompareResult(path)
    return RunResult(path)
