"""Config composition and validation: every bad value is one line, exit 2, nothing written."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sim.cli import main, sweep_variants
from sim.config.load import compose_config, load_config
from sim.errors import ConfigError
from sim.model.params import coordination_value

BAD = [
    ("gap_width_km=-1", "gap_width_km"),
    ("gap_width_km=abc", "gap_width_km"),
    ("coordination=telepathy", "coordination"),
    ("coordination=bogus", "coordination"),
    ("coordination=7", "coordination"),
    ("replicates=0", "replicates"),
    ("days=-3", "days"),
    ("seed=x1", "seed"),
    ("scenario=atlantis", "scenario"),
    ("workers=-2", "workers"),
    ("terrain.cell_m=0", "terrain.cell_m"),
    ("executor=carrier_pigeon", "executor"),
    ("model.tick_hours=5", "model.tick_hours"),
    ("model.n_fighters=-4", "model.n_fighters"),
    ("nonsense_key=1", "nonsense_key"),
    ("precision=2", "precision"),
]


@pytest.mark.parametrize(("override", "key"), BAD)
def test_bad_value_is_one_line_exit_2_nothing_written(override, key, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["run", override, f"hydra.run.dir={out}"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"gapsim: error: {key}"), err
    assert "Traceback" not in err
    assert not out.exists()


def test_console_script_exit_code_and_no_traceback(tmp_path):
    """The real entry point, in a fresh interpreter."""
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, "-m", "sim.cli", "run", "gap_width_km=-1",
                          f"hydra.run.dir={out}"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0
    assert "gap_width_km=-1.0" in res.stderr
    assert "Traceback" not in res.stderr
    assert not out.exists()
    assert not list(tmp_path.rglob("*.parquet"))


def test_defaults_compose_and_validate():
    cfg, obj = load_config([])
    assert obj.scenario.name == "status_quo_2019"
    assert obj.gap_width_km == 4.0
    assert obj.coordination == "none"
    assert obj.terrain.cell_m == 250


def test_command_line_wins_over_scenario():
    cfg = compose_config(["scenario=joint_brigades", "gap_width_km=6", "coordination=jcc"])
    assert cfg["scenario"]["name"] == "joint_brigades"
    assert cfg["gap_width_km"] == 6.0
    assert cfg["coordination"] == "jcc"


@pytest.mark.parametrize(("level", "value"), [("none", 0.0), ("jcc", 2.0), ("joint_brigades", 4.0),
                                              ("2.5", 2.5), (3, 3.0)])
def test_coordination_names_and_numbers(level, value):
    assert coordination_value(level) == value


def test_timeline_date_before_start_is_rejected():
    with pytest.raises(ConfigError, match="scenario.timeline"):
        compose_config(["scenario=withdrawal_2017", "scenario.start_date=2018-01-01"])


def test_sweep_values_are_each_validated(tmp_path, capsys):
    assert len(sweep_variants(["gap_width_km=1,3,5", "coordination=none,jcc"])) == 4
    code = main(["run", "-m", "gap_width_km=1,-3", f"hydra.sweep.dir={tmp_path / 'sw'}"])
    assert code == 2
    assert "gap_width_km" in capsys.readouterr().err
    assert not (tmp_path / "sw").exists()


def test_unwritable_output_dir_fails_before_work(tmp_path, capsys):
    """A run directory that cannot be created (under a regular file) is refused up front."""
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    code = main(["run", f"hydra.run.dir={blocker / 'run'}"])
    assert code == 2
    err = capsys.readouterr().err
    assert "hydra.run.dir" in err and len(err.strip().splitlines()) == 1
