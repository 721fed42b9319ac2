"""Provenance: every command records the command line that recreates its directory, that line
works verbatim from another working directory, and `gapsim reproduce` reruns it and compares.

(The comparison's own round trip is in test_compare.py; validation's is marked slow below.)
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pandas as pd
import pytest

from sim.cli import main

RUN = ["run", "terrain=qarachogh_coarse", "days=6", "replicates=2", "workers=1", "progress=false"]
STUDY = """
base: {terrain: qarachogh_coarse, days: 5}
factors:
  gap_width_km: {values: [2, 5]}
design: full_factorial
replicates: 2
outcomes: [incidents, gap_control]
"""


def manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def test_the_run_command_runs_verbatim_elsewhere_and_gives_the_same_tables(
    tmp_path, monkeypatch, capsys
):
    first, clone = tmp_path / "first", tmp_path / "clone"
    first.mkdir()
    clone.mkdir()
    monkeypatch.chdir(first)
    assert main([*RUN, "hydra.run.dir=out"]) == 0
    command = manifest(first / "out")["command"]
    assert command == "gapsim " + shlex.join([*RUN, "hydra.run.dir=out"])
    monkeypatch.chdir(clone)  # a fresh working directory, as in a fresh clone
    assert main(shlex.split(command)[1:]) == 0
    for table in ("runs", "timeseries", "incidents"):
        pd.testing.assert_frame_equal(pd.read_parquet(first / "out" / f"{table}.parquet"),
                                      pd.read_parquet(clone / "out" / f"{table}.parquet"))
    capsys.readouterr()
    assert main(["reproduce", str(first / "out")]) == 0
    assert capsys.readouterr().out.startswith("identical:")


def test_reproduce_names_what_differs(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*RUN, f"hydra.run.dir={out}"]) == 0
    runs = pd.read_parquet(out / "runs.parquet")
    runs.loc[1, "incidents"] += 1
    runs.to_parquet(out / "runs.parquet", index=False)
    capsys.readouterr()
    assert main(["reproduce", str(out)]) == 1
    err = capsys.readouterr().err
    assert "differs:" in err and "runs.incidents: first difference at row 1" in err


def test_reproduce_a_sweep(tmp_path, capsys):
    study = tmp_path / "two.yaml"
    study.write_text(STUDY)
    out = tmp_path / "sweep"
    assert main(["sweep", f"experiment={study}", "workers=1", "progress=false",
                 f"hydra.run.dir={out}"]) == 0
    assert manifest(out)["command_argv"][:2] == ["sweep", f"experiment={study}"]
    capsys.readouterr()
    assert main(["reproduce", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"identical: {out}")


@pytest.mark.slow
def test_reproduce_a_validation(tmp_path, capsys):
    """The validation suite includes a three-year arm: about 2 minutes on two cores."""
    out = tmp_path / "validate"
    assert main(["validate", "replicates=2", "terrain=qarachogh_coarse", "progress=false",
                 f"hydra.run.dir={out}"]) in (0, 1)  # 1: a pattern failed with 2 replicates
    capsys.readouterr()
    assert main(["reproduce", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"identical: {out}")
