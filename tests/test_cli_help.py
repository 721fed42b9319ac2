"""Command-line help and hints (issue 16, item 7): `gapsim COMMAND --help` lists the command's keys
with defaults and allowed values, exit 0; a refused key or value names the fix in one line.

Before the change: ``gapsim run --help`` exited 2, ``replicate=2`` got no suggestion,
``model.n_fighter=200`` pointed to ``configs/config.yaml`` (which lists no model keys),
``coordination=joint_operations`` did not mention ``joint_ops``, ``scenarios=[a, b]`` got
"overrides are key=value", and ``gap_width_km=6km`` the raw OmegaConf message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sim.cli import HYDRA_COMMANDS, main
from sim.config.schema import Config
from sim.model.mechanisms import MECHANISMS
from sim.model.params import COORDINATION_LEVELS, ModelParams

GAPSIM = Path(sys.executable).with_name("gapsim")


@pytest.fixture(autouse=True)
def _nothing_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Help and refusals never reach Hydra's job; if one did, fail instead of running it."""

    def accepted(*args: object) -> int:
        pytest.fail(f"the request was accepted and handed to Hydra: {args}")

    monkeypatch.setattr("sim.cli._run_hydra", accepted)


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def one_line(code: int, err: str, key: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"gapsim: error: {key}="), lines[0]
    return lines[0]


# ------------------------------------------------------------------------------------- help


def test_run_help_lists_keys_defaults_and_allowed_values_exit_0() -> None:
    code, out, err = cli("run", "--help")
    assert (code, err) == (0, "")
    assert "usage: gapsim run" in out
    assert "replicates=8" in out and "from 1 to 100000" in out
    assert "gap_width_km=4" in out and "between 0 and 20" in out
    assert "coordination=none" in out and all(level in out for level in COORDINATION_LEVELS)
    assert "scenario=status_quo_2019" in out and "joint_brigades" in out
    assert "hydra.run.dir" in out and "gapsim help model" in out


@pytest.mark.parametrize("command", HYDRA_COMMANDS)
def test_every_command_help_exits_0_and_lists_its_keys(command: str) -> None:
    from sim.commands.help import COMMAND_KEYS

    code, out, err = cli(command, "-h" if command == "map" else "--help")
    assert (code, err) == (0, ""), err
    for key in COMMAND_KEYS[command]:
        shown = "+extra." if key == "extra" else key
        assert f"  {shown}" in out, f"{command} --help does not list {key}"


def test_every_config_key_is_listed_by_some_command() -> None:
    """Data-driven: a key added to the schema must be added to a command's help."""
    from sim.commands.help import COMMAND_KEYS

    listed = {k.split(".")[0] for keys in COMMAND_KEYS.values() for k in keys}
    assert {f.name for f in dataclasses.fields(Config)} <= listed


def test_help_defaults_follow_the_rest_of_the_command_line() -> None:
    code, out, _ = cli("run", "scenario=joint_brigades", "--help")
    assert code == 0
    assert "scenario=joint_brigades" in out and "coordination=joint_brigades" in out


def test_help_model_lists_every_parameter_with_range_and_unit() -> None:
    code, out, err = cli("help", "model")
    assert (code, err) == (0, "")
    for f in dataclasses.fields(ModelParams):
        assert f"  model.{f.name}=" in out, f.name
    assert "model.tick_hours=6" in out and "0.25 to 6 h" in out
    assert all(name in out for name in MECHANISMS)


@pytest.mark.parametrize("command", ["reproduce", "collect", "dashboard", "calibrate"])
def test_plain_commands_have_help_too(command: str) -> None:
    code, out, err = cli(command, "--help")
    assert (code, err) == (0, "")
    assert out.startswith(f"usage: gapsim {command}")


def test_help_for_an_unknown_command_suggests_one() -> None:
    code, _, err = cli("help", "comapre")
    assert "did you mean compare?" in one_line(code, err, "help")
    code, _, err = cli("rnu")
    assert "did you mean run?" in one_line(code, err, "command")


def test_console_script_help_exit_0() -> None:
    if not GAPSIM.exists():
        pytest.skip(f"no console script at {GAPSIM}")
    res = subprocess.run([str(GAPSIM), "run", "--help"], capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "replicates=8" in res.stdout


# -------------------------------------------------------------------------- one-line hints

HINTS = [
    # (arguments, key named, the fix that must appear in the line)
    (["replicate=2"], "replicate", "did you mean replicates?"),
    (["+replicate=2"], "replicate", "did you mean replicates?"),
    (["model.n_fighter=200"], "model.n_fighter", "did you mean model.n_fighters?"),
    (["model.n_fighter=200"], "model.n_fighter", "docs/ODD.md"),
    (["model.zzzz=1"], "model.zzzz", "docs/ODD.md"),
    (["terrain.cell_mm=250"], "terrain.cell_mm", "did you mean terrain.cell_m?"),
    (["coordination=joint_operations"], "coordination", "coordination=joint_ops"),
    (["coordination=joint_brigade"], "coordination", "did you mean joint_brigades?"),
    (["scenario=joint_operation"], "scenario", "did you mean joint_operations?"),
    (["scenarios=[a,", "b]"], "scenarios", "'scenarios=[a, b]'"),
    (["scenarios=[a,", "b]"], "scenarios", "scenarios=[a,b]"),
    (["scenarios=[a,"], "scenarios", "quote the whole override"),
    (["scenario.description=two", "words"], "override", "quote that whole override"),
    (["gap_width_km=6km"], "gap_width_km", "gap_width_km=6"),
    (["gap_width_km=6 km"], "gap_width_km", "gap_width_km=6"),
    (["gap_width_km=6000m"], "gap_width_km", "gap_width_km=6"),
    (["days=10d"], "days", "days=10"),
    (["model.tick_hours=30min"], "model.tick_hours", "model.tick_hours=0.5"),
    (["model.ablate=[informant]"], "model.ablate", "did you mean informants?"),
    (["scenario.name=\u0645\u062e\u0645\u0648\u0631"], "scenario.name", "quote"),
]


@pytest.mark.parametrize(("args", "key", "fix"), HINTS, ids=lambda x: str(x))
def test_refusal_names_the_fix_in_one_line(args: list[str], key: str, fix: str,
                                           tmp_path: Path) -> None:  # fmt: skip
    out = tmp_path / "out"
    code, _, err = cli("run", *args, f"hydra.run.dir={out}")
    line = one_line(code, err, key)
    assert fix in line, line
    assert "configs/config.yaml" not in line
    assert not out.exists()


def test_compare_scenario_list_suggests_the_scenario_name(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, _, err = cli("compare", "scenarios=[status_quo_2019,joint_operation]",
                       f"hydra.run.dir={out}")  # fmt: skip
    assert "did you mean joint_operations?" in one_line(code, err, "scenarios")


def test_unit_hint_reads_the_unit_from_the_parameter_metadata() -> None:
    """``model.*`` units come from ``ModelParams`` metadata, not from a copy."""
    from sim.config.keys import unit_of

    for f in dataclasses.fields(ModelParams):
        unit = f.metadata.get("unit")
        if unit not in (None, "", "-", "names"):
            assert unit_of(f"model.{f.name}") == unit


def test_no_hint_where_nothing_is_close() -> None:
    code, _, err = cli("run", "qqqqqqqq=1")
    line = one_line(code, err, "qqqqqqqq")
    assert "did you mean" not in line and "--help" in line
    assert re.search(r"unknown key", line)
