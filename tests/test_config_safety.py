"""Configuration safety (issue 19): no config file, study or override can create objects or write
outside the run folder; config parse failures are one line naming the file; limits hold before work.

Each attack here was reproduced against the code before the fix (``docs/RELIABILITY.md``, section
"Attacks"): a scenario file with a ``hydra:`` block wrote any file and exited 0, a
``+hydra.callbacks`` override did the same, a bad ``config.yaml`` given to ``gapsim reproduce``
ended in a 30-90 line traceback, a 300-character scenario name was accepted and then failed every
replicate, and a YAML alias bomb hung the loader. The refusals are checked through ``sim.cli.main``
in-process (one line, exit 2, nothing created), with Hydra's job stubbed out where a request is
accepted.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import sim.config.load as load
from sim.cli import main
from sim.errors import ConfigError

FAST = ["terrain=qarachogh_coarse", "days=2", "replicates=1", "workers=1"]
ERROR_LINE = re.compile(r"^gapsim: error: (?P<key>[^=]+?)=(?P<rest>.*)$")


def cli(*args: str) -> tuple[int, str, str]:
    """``sim.cli.main`` in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def refused(code: int, err: str, *never_created: Path) -> str:
    """Exit 2, exactly one ``gapsim: error: KEY=VALUE: ...`` line, nothing created."""
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert ERROR_LINE.match(lines[0]), lines[0]
    for path in never_created:
        assert not path.exists(), f"{path} was created by a refused request"
    return lines[0]


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Fail (instead of hanging the suite) when the block runs longer than ``seconds``."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.5)  # again every 0.5 s, should one be caught
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of ``configs/`` that the loader and Hydra's job use instead of the real one."""
    target = tmp_path / "configs"
    shutil.copytree(load.CONFIG_DIR, target)
    monkeypatch.setattr(load, "CONFIG_DIR", target)
    return target


@pytest.fixture
def handed_over(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Stop at the hand-over to Hydra: the checks run, the job does not (it is recorded)."""
    calls: list[list[str]] = []

    def stub(command: str, overrides: list[str], hydra_over: list[str], multirun: bool) -> int:
        calls.append([command, *overrides, *hydra_over])
        return 0

    monkeypatch.setattr("sim.cli._run_hydra", stub)
    return calls


def write_text_callback(marker: Path) -> str:
    """A Hydra callback that writes ``marker`` when Hydra instantiates it (as YAML, indented 4)."""
    return (
        "    pwn:\n"
        "      _target_: pathlib.Path.write_text\n"
        f"      self: {{_target_: pathlib.Path, _args_: ['{marker}']}}\n"
        "      data: pwned\n"
    )


# ----------------------------------------------------------- group files cannot reach Hydra (19.1)

#: Ways a group file could put objects into Hydra's own config node.
GROUP_FILE_ATTACKS = {
    "scenario with a hydra block": (
        "scenario",
        "# @package _global_\nscenario:\n  name: evil\nhydra:\n  callbacks:\n{cb}",
    ),
    "scenario packaged into hydra": (
        "scenario",
        "# @package hydra\ncallbacks:\n{cb}",
    ),
    "scenario packaged into hydra.callbacks": (
        "scenario",
        "# @package _global_.hydra.callbacks\nx: 1\n",
    ),
    "terrain re-packaged as global with a hydra block": (
        "terrain",
        "# @package _global_\nterrain: {{name: evil}}\nhydra:\n  callbacks:\n{cb}",
    ),
    "scenario whose defaults reach a hydra group": (
        "scenario",
        "# @package _global_\ndefaults:\n  - override /hydra/launcher: basic\n  - _self_\n"
        "scenario:\n  name: evil\n",
    ),
    "scenario whose defaults load another group at the hydra package": (
        "scenario",
        "# @package _global_\ndefaults:\n  - /executor@hydra.callbacks: local\n  - _self_\n"
        "scenario:\n  name: evil\n",
    ),
}


@pytest.mark.parametrize("case", list(GROUP_FILE_ATTACKS))
def test_group_file_cannot_reach_hydra(case: str, configs: Path, tmp_path: Path) -> None:
    """Before the fix the first case wrote the marker and exited 0 (the job ran in full)."""
    group, text = GROUP_FILE_ATTACKS[case]
    marker = tmp_path / "pwned.txt"
    (configs / group / "evil.yaml").write_text(text.format(cb=write_text_callback(marker)))
    out = tmp_path / "out"
    code, _, err = cli("map", *FAST, f"{group}=evil", f"hydra.run.dir={out}")
    line = refused(code, err, out, marker)
    assert "evil.yaml" in line, line


def test_scenario_hydra_block_refused_in_multirun_too(configs: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned.txt"
    text = "# @package _global_\nscenario:\n  name: evil\nhydra:\n  callbacks:\n{cb}"
    (configs / "scenario" / "evil.yaml").write_text(text.format(cb=write_text_callback(marker)))
    out = tmp_path / "sweep"
    code, _, err = cli("map", "-m", *FAST, "scenario=status_quo_2019,evil",
                       f"hydra.sweep.dir={out}")  # fmt: skip
    refused(code, err, out, marker)


def test_shipped_group_files_pass(handed_over: list[list[str]], tmp_path: Path) -> None:
    """The checks refuse nothing the project ships: every scenario, terrain and executor file."""
    for group in load.GROUPS:
        for name in load.options(group):
            if group == "executor" and name == "ray":
                continue  # needs Ray installed and starts nothing here, but skip the import cost
            # no sbatch on this machine: submitit's local cluster runs the same array jobs
            extra = ["executor.options.cluster=local"] if (group, name) == ("executor", "slurm") else []
            code, _, err = cli("run", *FAST, f"{group}={name}", *extra, f"hydra.run.dir={tmp_path / 'o'}")
            assert code == 0, err
    assert len(handed_over) >= 9


# ------------------------------------------------------------ hydra.* overrides: an allow-list

CALLBACK_OVERRIDES = [
    "+hydra.callbacks.pwn._target_=pathlib.Path.write_text",
    "+hydra.callbacks.pwn.self._target_=pathlib.Path",
    "+hydra.callbacks.pwn.self._args_=[{marker}]",
    "+hydra.callbacks.pwn.data=pwned",
]


def test_hydra_callbacks_override_is_refused(tmp_path: Path) -> None:
    """Before the fix this wrote the marker, exit 0."""
    marker = tmp_path / "pwned.txt"
    out = tmp_path / "out"
    attack = [o.format(marker=marker) for o in CALLBACK_OVERRIDES]
    code, _, err = cli("map", *FAST, *attack, f"hydra.run.dir={out}")
    line = refused(code, err, out, marker)
    assert line.startswith("gapsim: error: hydra.callbacks"), line


#: Hydra overrides that create objects, run commands or write outside the run folder.
REFUSED_HYDRA = [
    "hydra.job_logging.handlers.file.filename={tmp}/elsewhere.log",
    "+hydra.job_logging.handlers.x.class=logging.FileHandler",
    "hydra.output_subdir=../../outside",
    "hydra.run.dir=../outside",
    "hydra.run.dir=results/../../outside",
    "hydra.run.dir=",
    "hydra.run.dir=${{oc.env:HOME}}/x",
    "hydra.job.name=../escape",
    "hydra.job.name=a/b",
    "hydra.job.chdir=true",
    "hydra.sweeper._target_=builtins.print",
    "hydra.launcher._target_=builtins.print",
    "hydra/launcher=ray",
    "hydra/job_logging=disabled",
    "hydra/callbacks=anything",
    "+hydra={{callbacks:{{x:1}}}}",
    "hydra.verbose=true",
    "scenario@hydra.callbacks=status_quo_2019",
    " hydra.callbacks.x=1",
]


@pytest.mark.parametrize("override", REFUSED_HYDRA)
def test_hydra_override_outside_the_allow_list_is_refused(
    override: str, tmp_path: Path, handed_over: list[list[str]]
) -> None:
    out = tmp_path / "out"
    code, _, err = cli("run", *FAST, override.format(tmp=tmp_path), f"hydra.run.dir={out}")
    refused(code, err, out)
    assert handed_over == []


@pytest.mark.parametrize("override", [
    "hydra.launcher.setup=[touch /tmp/pwned]",
    "hydra.launcher.submitit_folder=/etc/x",
    "+hydra.launcher.additional_parameters={{output:/etc/x}}",
    "hydra.launcher.partition=${{oc.env:HOME}}",
])  # fmt: skip
def test_launcher_fields_that_run_commands_or_write_are_refused(
    override: str, tmp_path: Path, handed_over: list[list[str]]
) -> None:
    out = tmp_path / "sweep"
    code, _, err = cli("run", "-m", *FAST, "seed=1,2", "hydra/launcher=slurm", override.format(),
                       f"hydra.sweep.dir={out}")  # fmt: skip
    refused(code, err, out)
    assert handed_over == []


ALLOWED_HYDRA = [
    ["hydra.run.dir={tmp}/absolute/run"],
    ["hydra.run.dir=results/inside/${{now:%Y-%m-%d}}"],
    ["hydra.job.name=my_study-2"],
    ["-m", "seed=1,2", "hydra.sweep.dir={tmp}/sweep", "hydra.sweep.subdir=${{hydra.job.num}}"],
    ["-m", "seed=1,2", "hydra/launcher=local_joblib", "hydra.launcher.n_jobs=2",
     "hydra.sweep.dir={tmp}/sweep"],
    ["-m", "seed=1,2", "hydra/launcher=joblib", "hydra.sweep.dir={tmp}/sweep"],
    ["-m", "seed=1,2", "hydra/launcher=slurm", "hydra.launcher.partition=compute",
     "hydra.launcher.cpus_per_task=32", "hydra.sweep.dir={tmp}/sweep"],
    ["-m", "seed=1,2", "hydra/launcher=submitit_local", "hydra.sweep.dir={tmp}/sweep"],
]  # fmt: skip


@pytest.mark.parametrize("request_", ALLOWED_HYDRA, ids=lambda r: " ".join(r))
def test_documented_hydra_overrides_still_pass(
    request_: list[str], tmp_path: Path, handed_over: list[list[str]], monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("run", *FAST, *[r.format(tmp=tmp_path) for r in request_])
    assert (code, err) == (0, "")
    assert len(handed_over) == 1


def test_a_launcher_file_with_a_target_is_refused(
    configs: Path, tmp_path: Path, handed_over: list[list[str]]
) -> None:
    """A file dropped into configs/hydra/launcher/ may only set the allowed resource fields."""
    (configs / "hydra" / "launcher" / "evil.yaml").write_text(
        "defaults:\n  - basic\n  - _self_\n_target_: builtins.print\n"
    )
    out = tmp_path / "sweep"
    code, _, err = cli("run", "-m", *FAST, "seed=1,2", "hydra/launcher=evil",
                       f"hydra.sweep.dir={out}")  # fmt: skip
    assert "evil.yaml" in refused(code, err, out)
    assert handed_over == []


# -------------------------------------------------- a saved config.yaml is parsed safely (19.4)

SAVED_CONFIGS = {
    "binary": b"\x87\x00\xff\xfe" + bytes(range(256)),
    "broken YAML": b"seed: [1, 2\n",
    "environment variable": b"seed: ${oc.env:GAPSIM_TEST_NOT_SET}\n",
    "interpolation to a missing key": b"seed: ${nowhere}\n",
    "not a mapping": b"- 1\n- 2\n",
    "empty": b"",
    "python tag": b"seed: !!python/object/apply:os.system ['true']\n",
    "alias bomb": b"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    + b"".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n".encode()
        for i in range(8)
    ),
}


@pytest.mark.parametrize("case", list(SAVED_CONFIGS))
def test_reproduce_refuses_a_bad_config_file_in_one_line(case: str, tmp_path: Path) -> None:
    """Before the fix: tracebacks of 30 (binary), 49 (YAML) and 89 (oc.env) lines, exit 1."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_bytes(SAVED_CONFIGS[case])
    with time_limit(20):
        code, _, err = cli("reproduce", str(run_dir))
    line = refused(code, err)
    assert str(run_dir / "config.yaml") in line, line


def test_reproduce_debug_shows_the_traceback(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GAPSIM_DEBUG", "1")
    (tmp_path / "config.yaml").write_bytes(SAVED_CONFIGS["environment variable"])
    with pytest.raises(Exception, match="config.yaml|GAPSIM_TEST_NOT_SET"):
        main(["reproduce", str(tmp_path)])


# -------------------------------------------------------------------- limits before work (19.6)


@pytest.mark.parametrize("name", ["x" * 300, "\u0645" * 43, "a\nhydra: 1", "../up", ".hidden"],
                         ids=["300 ascii", "43 arabic", "newline", "slash", "dot"])  # fmt: skip
def test_scenario_name_that_cannot_name_a_file_is_refused(
    name: str, tmp_path: Path, handed_over: list[list[str]]
) -> None:
    """Before the fix a 300-character name was accepted and every replicate failed later."""
    out = tmp_path / "out"
    code, _, err = cli("run", *FAST, f"scenario.name='{name}'", f"hydra.run.dir={out}")
    line = refused(code, err, out)
    assert line.startswith("gapsim: error: scenario.name="), line
    assert handed_over == []


@pytest.mark.parametrize("name", ["status_quo_2019", "\u0645\u062e\u0645\u0648\u0631-2019", "a" * 64])
def test_reasonable_scenario_names_pass(
    name: str, tmp_path: Path, handed_over: list[list[str]]
) -> None:
    code, _, err = cli("run", *FAST, f"scenario.name='{name}'", f"hydra.run.dir={tmp_path / 'o'}")
    assert (code, err) == (0, "")


def alias_bomb(depth: int) -> str:
    """A scenario file whose ``description`` expands to 10**depth strings."""
    lines = ["# @package _global_", "bomb0: &b0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, depth):
        lines.append(f"bomb{i}: &b{i} [{', '.join([f'*b{i - 1}'] * 10)}]")
    lines += ["scenario:", "  name: bomb", f"  description: *b{depth - 1}"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("depth", [5, 9])
def test_yaml_alias_bomb_is_refused_quickly(depth: int, configs: Path, tmp_path: Path) -> None:
    """Before the fix depth 5 took 42 s to be refused and depth 9 hung."""
    (configs / "scenario" / "bomb.yaml").write_text(alias_bomb(depth))
    out = tmp_path / "out"
    start = time.monotonic()
    with time_limit(30):
        code, _, err = cli("run", *FAST, "scenario=bomb", f"hydra.run.dir={out}")
    line = refused(code, err, out)
    assert "bomb.yaml" in line and "through its aliases" in line, line
    assert time.monotonic() - start < 10


def test_oversized_config_file_is_refused_before_reading(configs: Path, tmp_path: Path) -> None:
    text = "# @package _global_\nscenario:\n  name: big\n  description: " + "x" * 3_000_000 + "\n"
    (configs / "scenario" / "big.yaml").write_text(text)
    out = tmp_path / "out"
    code, _, err = cli("run", *FAST, "scenario=big", f"hydra.run.dir={out}")
    line = refused(code, err, out)
    assert "big.yaml" in line and "MB" in line, line


def test_study_file_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    """A study whose description is an alias bomb (anchors inside the one value)."""
    levels = ["&b0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    levels += [f"&b{i} [{', '.join([f'*b{i - 1}'] * 10)}]" for i in range(1, 9)]
    study = tmp_path / "bomb.yaml"
    study.write_text(f"description: [{', '.join(levels)}]\n"
                     "factors: {gap_width_km: {levels: [2, 4]}}\ndesign: full_factorial\n"
                     "replicates: 1\n")
    out = tmp_path / "out"
    with time_limit(30):
        code, _, err = cli("sweep", f"experiment={study}", f"hydra.run.dir={out}")
    line = refused(code, err, out)
    assert "bomb.yaml" in line and "through its aliases" in line, line
    from sim.experiments.study import load_study

    start = time.monotonic()  # the refusal itself, without the command's imports
    with pytest.raises(ConfigError, match="through its aliases"):
        load_study(str(study))
    assert time.monotonic() - start < 2
