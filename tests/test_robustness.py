"""Robustness: every way input enters is checked, and interruptions or crashes lose nothing.

What is guaranteed, and which test below shows it: ``docs/RELIABILITY.md``.

* Bad input (command-line overrides, scenario and terrain YAML files, DEM arrays, dashboard
  controls) ends with exit code 2 and one line ``gapsim: error: KEY=VALUE: what is allowed``, no
  traceback, and nothing written. Tables of hand-picked cases run through ``sim.cli.main``
  in-process (and a few through the real ``gapsim`` console script); Hypothesis fuzzes the rest
  (deterministically: ``derandomize=True``, no example database).
* Whatever validation accepts runs: each accepted fuzzed input is run for real, one replicate
  of two days through the worker's own entry point (``sim.engine.worker.run_task``: the
  strict config rebuild, the model and the result tables it returns to the driver).
* Ctrl-C, SIGTERM or SIGKILL during ``gapsim run`` (the real console script in a subprocess)
  keep every completed replicate; rerunning the same command into the same directory computes
  only what is missing and ends with the same tables as an uninterrupted run.

Set ``GAPSIM_ROBUSTNESS_REPORT=path.json`` to write the counts (inputs fuzzed, refused, run,
signals sent) that ``docs/RELIABILITY.md`` quotes.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime as dt
import functools
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim.config.load as load
from sim.cli import main
from sim.config.load import config_from_dict, load_config, resolved_dict
from sim.config.schema import Config
from sim.engine import frames
from sim.engine.experiment import DEFAULT_RUNNER
from sim.engine.identity import point_hash
from sim.engine.reproduce import compare_tables
from sim.engine.store import completed_replicates
from sim.engine.worker import Task, run_task
from sim.errors import ConfigError
from sim.model.params import COORDINATION_LEVELS, FORCES, ModelParams
from tests.conftest import group_gone

REPO = Path(__file__).resolve().parents[1]
GAPSIM = Path(sys.executable).with_name("gapsim")
#: Quick settings for anything that really runs (the coarse 500 m terrain, two days).
FAST = ["terrain=qarachogh_coarse", "days=2", "replicates=1", "workers=1"]
ERROR_LINE = re.compile(r"^gapsim: error: (?P<key>[^=]+?)=(?P<rest>.*)$")
STATS: Counter[str] = Counter()

#: ``GAPSIM_FUZZ_SCALE=10`` multiplies every fuzz test's examples (a longer campaign).
SCALE = float(os.environ.get("GAPSIM_FUZZ_SCALE", "1"))


def examples(n: int) -> int:
    return max(1, int(n * SCALE))


FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module", autouse=True)
def _report_counts() -> Iterator[None]:
    yield
    target = os.environ.get("GAPSIM_ROBUSTNESS_REPORT")
    if target:
        Path(target).write_text(json.dumps(dict(sorted(STATS.items())), indent=2) + "\n")


# ------------------------------------------------------------------------------------------ helpers


def cli(*args: str) -> tuple[int, str, str]:
    """``sim.cli.main`` in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def parquet_under(root: Path) -> list[Path]:
    return list(root.rglob("*.parquet")) if root.exists() else []


def assert_refused(code: int, err: str, out_dir: Path, key: str | None = None) -> str:
    """Exit 2, one ``gapsim: error: KEY=VALUE: ...`` line, no traceback, nothing written."""
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    match = ERROR_LINE.match(lines[0])
    assert match, lines[0]
    assert match["key"] != "overrides", f"the message names no key: {lines[0]}"
    if key is not None:
        assert match["key"] == key, lines[0]
    assert not out_dir.exists(), f"{out_dir} was created for a refused request"
    assert not parquet_under(out_dir.parent)
    STATS["refused"] += 1
    return lines[0]


@pytest.fixture
def preflight_only(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """``gapsim`` up to the hand-over to Hydra: the checks run, the job does not (it is recorded)."""
    handed_over: list[list[str]] = []

    def stub(command: str, overrides: list[str], hydra_over: list[str], multirun: bool) -> int:
        handed_over.append([command, *overrides, *hydra_over])
        return 0

    monkeypatch.setattr("sim.cli._run_hydra", stub)
    return handed_over


def check_request(request: list[str], root: Path, handed_over: list[list[str]]) -> str | None:
    """The fuzz oracle: the CLI refuses cleanly, or what it accepts runs (a replicate, two days).

    Returns:
        The error line of a refused request, None for an accepted one.
    """
    out = root / "out"
    code, stdout, err = cli("run", *request, f"hydra.run.dir={out}")
    if code == 2:
        line = assert_refused(code, err, out)
        assert not handed_over
        return line
    assert (code, stdout, err) == (0, "", ""), err
    assert len(handed_over) == 1
    handed_over.clear()
    cfg, config = load_config(request)  # what the job composes once Hydra has the request
    if config.terrain.dem.source != "procedural":  # `gapsim run` draws the map first
        from sim.analysis.maps import plot_terrain_map
        from sim.terrain.builder import get_terrain

        terrain = get_terrain(config.terrain, config.gap_width_km)
        assert np.isfinite(np.asarray(terrain.layers["elevation_m"], dtype=float)).all()
        plot_terrain_map(terrain, root / "map.png")
    run_accepted(resolved_dict(cfg), root / "run")
    return None


def cheap(data: dict[str, Any]) -> bool:
    """A grid small enough to build in a fuzz example (fuzzing may pick 50 m cells)."""
    t = data["terrain"]
    cells = (
        (t["x_max_km"] - t["x_min_km"]) * (t["y_max_km"] - t["y_min_km"]) / (t["cell_m"] / 1e3) ** 2
    )
    return cells <= 30_000


def run_accepted(data: dict[str, Any], out_dir: Path) -> None:
    """An accepted config runs: the worker's strict rebuild, two days of the model, its tables."""
    data = copy.deepcopy(data)
    data["days"] = 2
    config_from_dict(data)
    if not cheap(data):
        STATS["accepted_not_run_large_grid"] += 1
        return
    labels = {"scenario": data["scenario"]["name"]}
    result = run_task(Task(0, point_hash(data, None), (0,), data, labels, DEFAULT_RUNNER))
    assert result.done == [0], result.failures[0]["traceback"] if result.failures else result
    tables = frames.decode(result.payload)
    assert tables["runs"].num_rows == 1 and tables["timeseries"].num_rows == 2, tables
    STATS["accepted_and_run"] += 1


@pytest.fixture
def config_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of ``configs/`` that the loader and the CLI use instead of the real one."""
    target = tmp_path / "configs"
    shutil.copytree(load.CONFIG_DIR, target)
    monkeypatch.setattr(load, "CONFIG_DIR", target)
    return target


# ------------------------------------------------------------------------- bad values, one by one

BAD_VALUES = [
    ("gap_width_km=-1", "gap_width_km", "between 0 and 20"),
    ("gap_width_km=abc", "gap_width_km", "abc"),
    ("coordination=telepathy", "coordination", "none, liaison, jcc, joint_ops, joint_brigades"),
    ("replicates=0", "replicates", "from 1"),
    ("days=-3", "days", "from 1"),
    ("seed=x1", "seed", "x1"),
    ("scenario=atlantis", "scenario", "status_quo_2019"),
    ("workers=-2", "workers", "0 (all cores)"),
    ("terrain.cell_m=0", "terrain.cell_m", "between 50 and 1000"),
    ("executor=carrier_pigeon", "executor", "local, ray"),
]

MALFORMED = [
    ("gap_width_km", "override"),
    ("=5", "override"),
    ("gap_width_km=[1,2", "gap_width_km"),
    ("gap_width_km=1,3", "gap_width_km"),  # a sweep without -m
    ("model.tick_hours=7", "model.tick_hours"),
    ("model.tick_hours=0.7", "model.tick_hours"),  # in range, but does not divide a day
    ("model.share_prob=[0,1]", "model.share_prob"),
    ("model.share_prob=[nan,1,1,1,1]", "model.share_prob"),
    ("nonsense_key=1", "nonsense_key"),
    ("model.nonsense=1", "model.nonsense"),
    ("+foo=1", "foo"),
    ("+model.extra=1", "model.extra"),
    ("~seed", "override"),
    ("~replicates=8", "replicates"),
    ("-x", "option"),
    ("coordination=[1]", "coordination"),
    ("seed=${oc.env:HOME}", "seed"),
    ("gap_width_km=nan", "gap_width_km"),
    ("replicates=1e9", "replicates"),
    ("terrain.places=[{name:x,at_km:[100,0]}]", "terrain.places[0].at_km"),
    ("scenario.posture.gap=ISIS", "scenario.posture.gap"),
    ("scenario.timeline=[{date:2020-02-30}]", "scenario.timeline[0].date"),
    ("executor.start_method=fork", "executor.start_method"),
]


@pytest.mark.parametrize(("override", "key", "allowed"), BAD_VALUES)
def test_bad_value_names_key_and_allowed_exit_2_nothing_written(
    override: str, key: str, allowed: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    code, _, err = cli("run", override, f"hydra.run.dir={out}")
    line = assert_refused(code, err, out, key)
    assert allowed in line


@pytest.mark.parametrize(("override", "key"), MALFORMED)
def test_malformed_override_is_one_line_naming_the_key(
    override: str, key: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    code, _, err = cli("run", *FAST, override, f"hydra.run.dir={out}")
    assert_refused(code, err, out, key)


def test_gap_that_leaves_the_map_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    small = [
        "terrain.x_min_km=-5",
        "terrain.x_max_km=8",
        "terrain.y_min_km=-8",
        "terrain.y_max_km=8",
        "terrain.settlements=[{name:a,at_km:[0,0],pop:100}]",
        "terrain.places=[]",
        "terrain.truffle_grounds=[]",
        "terrain.rivers=[]",
    ]
    code, _, err = cli("run", *FAST, *small, "gap_width_km=15", f"hydra.run.dir={out}")
    assert "must be below" in assert_refused(code, err, out, "gap_width_km")


def test_debug_true_shows_the_traceback_instead(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="gap_width_km"):
        main(["run", "gap_width_km=-1", "debug=true", f"hydra.run.dir={tmp_path / 'out'}"])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "command",
    [["run"], ["map"], ["validate"], ["compare", "scenarios=[status_quo_2019,joint_brigades]"]],
    ids=lambda c: c[0],
)
def test_unwritable_output_dir_is_refused_before_work(command: list[str], tmp_path: Path) -> None:
    """Tests run as root, so 'unwritable' is a path below a regular file."""
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    code, _, err = cli(*command, *FAST, f"hydra.run.dir={blocker / 'run'}")
    assert "cannot write there" in assert_refused(code, err, blocker / "run", "hydra.run.dir")
    code, _, err = cli(*command, "-m", *FAST, "seed=1,2", f"hydra.sweep.dir={blocker / 'sw'}")
    assert_refused(code, err, blocker / "sw", "hydra.sweep.dir")


def test_console_script_refuses_in_a_subprocess(tmp_path: Path) -> None:
    """The installed ``gapsim`` entry point, in a fresh interpreter, for three kinds of refusal."""
    if not GAPSIM.exists():
        pytest.skip(f"no console script at {GAPSIM}")
    cases = [
        (["gap_width_km=-1"], "gap_width_km"),
        (["+_target_=os.system"], "_target_"),
        (["executor=ray", "executor.address=127.0.0.1:1"], "executor.address"),
    ]
    for i, (overrides, key) in enumerate(cases):
        out = tmp_path / f"out{i}"
        res = subprocess.run(
            [str(GAPSIM), "run", *overrides, f"hydra.run.dir={out}"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
        assert_refused(res.returncode, res.stderr, out, key)
        assert res.stdout == ""
    assert not (tmp_path / "results").exists() and not (tmp_path / ".hydra").exists()


def test_unreachable_ray_cluster_fails_fast_naming_the_address(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    out = tmp_path / "out"
    start = time.monotonic()
    code, _, err = cli(
        "run", *FAST, "executor=ray", "executor.address=127.0.0.1:1", f"hydra.run.dir={out}"
    )
    line = assert_refused(code, err, out, "executor.address")
    assert "127.0.0.1:1" in line and "no Ray cluster reachable" in line
    assert time.monotonic() - start < 15


# ------------------------------------------------------------------------------- scenario files

SCENARIO_FILES = {
    "bad posture": (
        "scenario:\n  name: fuzz\n  posture: {ridge: ISIS}\n",
        "scenario.posture.ridge",
    ),
    "bad timeline date": (
        "scenario:\n  name: fuzz\n  timeline:\n    - {date: '2020-13-45', label: x}\n",
        "scenario.timeline[0].date",
    ),
    "timeline before start": (
        "scenario:\n  name: fuzz\n  start_date: '2020-01-01'\n  timeline:\n    - {date: '2019-12-31'}\n",
        "scenario.timeline[0].date",
    ),
    "timeline coordination": (
        "scenario:\n  name: fuzz\n  timeline:\n    - {date: '2020-05-01', coordination: 9}\n",
        "scenario.timeline[0].coordination",
    ),
    "unknown key": ("scenario:\n  name: fuzz\n  foo: 1\n", "scenario.foo"),
    "class target": ("scenario:\n  name: fuzz\n  _target_: os.system\n", "scenario._target_"),
    "top-level value": ("scenario: {name: fuzz}\ngap_width_km: 30\n", "gap_width_km"),
    "broken YAML": ("scenario:\n  name: fuzz\n  posture: {ridge: PESH\n", None),
    "python tag": ("scenario: !!python/object/apply:os.system ['touch {marker}']\n", None),
}


@pytest.mark.parametrize("case", list(SCENARIO_FILES))
def test_bad_scenario_file_is_refused(case: str, config_copy: Path, tmp_path: Path) -> None:
    text, key = SCENARIO_FILES[case]
    marker = tmp_path / "executed"
    scenario = config_copy / "scenario" / "fuzz.yaml"
    scenario.write_text("# @package _global_\n" + text.replace("{marker}", str(marker)))
    out = tmp_path / "out"
    code, _, err = cli("run", *FAST, "scenario=fuzz", f"hydra.run.dir={out}")
    line = assert_refused(code, err, out, key or str(scenario))
    if key is None:  # YAML errors name the file and the line
        assert "not valid YAML" in line and "line " in line
    assert not marker.exists(), "a YAML tag ran code"


# --------------------------------------------------------------------------- fuzzing: overrides


def _schema_keys(cls: type, prefix: str = "") -> list[str]:
    keys = []
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default):
            keys += _schema_keys(type(default), key + ".")
        else:
            keys.append(key)
    return keys


#: Every key a user can set, from the schema itself (no Ray address: that would dial out; no
#: ``debug``: it asks for tracebacks on purpose).
SCHEMA_KEYS = [k for k in _schema_keys(Config) if k not in ("debug", "executor.address")]
NAMES = [
    *COORDINATION_LEVELS,
    *FORCES,
    "none",
    "local",
    "ray",
    "forkserver",
    "spawn",
    "procedural",
    "npy",
    "status_quo_2019",
    "joint_brigades",
    "qarachogh_coarse",
    "2020-01-01",
    "true",
    "null",
    "${oc.env:HOME}",
    "${now:%H}",
    "",
    "[]",
    "{}",
]

numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 0.5, 2, 3, 4, 7, 24, 100, 1e308, -1e308, 2**63, 2**64, 1e-300]),
)
texts = st.text(max_size=10)
scalars = st.one_of(
    numbers.map(lambda x: repr(x) if isinstance(x, float) else str(x)),
    st.sampled_from(NAMES),
    texts,
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=6).map(lambda xs: "[" + ",".join(xs) + "]"),
    st.dictionaries(st.sampled_from(["a", "x", "name"]), scalars, max_size=2).map(
        lambda d: "{" + ",".join(f"{k}:{v}" for k, v in d.items()) + "}"
    ),
)
unknown_keys = st.from_regex(r"[a-z_]{1,8}(\.[a-z_]{1,8})?", fullmatch=True).filter(
    lambda k: not k.startswith("hydra")
)
keys = st.one_of(st.sampled_from(SCHEMA_KEYS), st.sampled_from(SCHEMA_KEYS), unknown_keys)
any_override = st.tuples(st.sampled_from(["", "", "", "", "+"]), keys, values).map(
    lambda t: f"{t[0]}{t[1]}={t[2]}"
)


def _in_range(f: dataclasses.Field) -> st.SearchStrategy[str]:
    """A value inside a model parameter's documented range (often the very edge of it)."""
    lo, hi = f.metadata["range"]
    if f.type in ("int", int):
        one: st.SearchStrategy[Any] = st.integers(int(lo), int(hi))
    else:
        one = st.one_of(st.sampled_from([lo, hi]), st.floats(lo, hi))
    if isinstance(f.default_factory(), list) if f.default is dataclasses.MISSING else False:
        return st.lists(one, min_size=5, max_size=5).map(
            lambda xs: f"model.{f.name}=[{','.join(map(repr, xs))}]"
        )
    return one.map(lambda x: f"model.{f.name}={x!r}")


#: Model parameters at valid, often extreme, values: these mostly pass and so exercise the model.
in_range_override = st.sampled_from(dataclasses.fields(ModelParams)).flatmap(_in_range)
override = st.one_of(any_override, any_override, in_range_override)


@settings(FUZZ, max_examples=examples(30))
@given(overrides=st.lists(override, min_size=1, max_size=3))
def test_fuzzed_overrides_are_refused_cleanly_or_run(
    overrides: list[str], tmp_path_factory: pytest.TempPathFactory, preflight_only: list
) -> None:
    STATS["overrides_fuzzed"] += 1
    root = tmp_path_factory.mktemp("fuzz-overrides", numbered=True)
    check_request([*FAST, *overrides], root, preflight_only)


# ----------------------------------------------------------------------- fuzzing: config files

ZONES = ("ridge", "gap", "plain", "pmf_sector")
junk = st.one_of(
    st.integers(),
    st.floats(),
    st.text(max_size=8),
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
holders = st.one_of(st.sampled_from([*FORCES, "none"]), st.sampled_from([*FORCES, "none"]), junk)
dates = st.one_of(
    st.dates(min_value=dt.date(2015, 1, 1)).map(str),
    st.sampled_from(["2020-01-01", "2021-02-29", "2020-13-01", "", "tomorrow"]),
    junk,
)
coordinations = st.one_of(st.sampled_from(COORDINATION_LEVELS), numbers, junk)
events = st.fixed_dictionaries(
    {"date": dates},
    optional={
        "label": st.one_of(st.text(max_size=8), junk),
        "posture": st.one_of(st.dictionaries(st.sampled_from(ZONES), holders, max_size=3), junk),
        "coordination": coordinations,
    },
)
scenarios = st.fixed_dictionaries(
    {"name": st.just("fuzz")},
    optional={
        "description": st.one_of(st.text(max_size=20), junk),
        "sources": st.one_of(st.lists(st.text(max_size=5), max_size=2), junk),
        "start_date": dates,
        "posture": st.one_of(
            st.fixed_dictionaries({}, optional=dict.fromkeys(ZONES, holders)), junk
        ),
        "timeline": st.one_of(st.lists(events, max_size=3), junk),
        "links_intact": st.one_of(st.booleans(), junk),
    },
)
scenario_files = st.one_of(
    st.fixed_dictionaries(
        {"scenario": scenarios},
        optional={
            "gap_width_km": st.one_of(numbers, junk),
            "coordination": coordinations,
            "days": st.one_of(st.integers(-5, 40_000), junk),
        },
    ).map(lambda d: "# @package _global_\n" + yaml.safe_dump(d, allow_unicode=True)),
    st.text(max_size=60),  # anything at all, mostly not a mapping or not YAML
)


@settings(FUZZ, max_examples=examples(24))
@given(text=scenario_files)
def test_fuzzed_scenario_files_are_refused_cleanly_or_run(
    text: str, config_copy: Path, tmp_path_factory: pytest.TempPathFactory, preflight_only: list
) -> None:
    STATS["scenario_files_fuzzed"] += 1
    root = tmp_path_factory.mktemp("fuzz-scenario", numbered=True)
    (config_copy / "scenario" / "fuzz.yaml").write_text(text, encoding="utf-8")
    check_request([*FAST, "scenario=fuzz"], root, preflight_only)


@functools.cache
def _coarse_terrain() -> dict[str, Any]:
    cfg, _ = load_config(["terrain=qarachogh_coarse"])
    return resolved_dict(cfg)["terrain"]


DELETE = object()


@st.composite
def mutated_terrain(draw: st.DrawFn) -> dict[str, Any]:
    """The coarse terrain with one to three values replaced by junk (or deleted), anywhere."""
    data = copy.deepcopy(_coarse_terrain())
    for _ in range(draw(st.integers(1, 3))):
        node: Any = data
        while True:
            keys_ = sorted(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys_:
                break
            key = draw(st.sampled_from(keys_))
            child = node[key]
            if isinstance(child, dict | list) and child and draw(st.booleans()):
                node = child
                continue
            if (
                isinstance(child, int | float)
                and not isinstance(child, bool)
                and draw(st.booleans())
            ):
                new = type(child)(child * draw(st.floats(0.25, 2.0)))  # plausible, often valid
            else:
                new = draw(st.one_of(st.just(DELETE), numbers, junk, st.lists(numbers, max_size=3)))
            if new is DELETE:
                del node[key]
            else:
                node[key] = new
            break
    return data


@settings(FUZZ, max_examples=examples(24))
@given(terrain=mutated_terrain())
def test_fuzzed_terrain_files_are_refused_cleanly_or_run(
    terrain: dict[str, Any],
    config_copy: Path,
    tmp_path_factory: pytest.TempPathFactory,
    preflight_only: list,
) -> None:
    STATS["terrain_files_fuzzed"] += 1
    root = tmp_path_factory.mktemp("fuzz-terrain", numbered=True)
    (config_copy / "terrain" / "fuzz.yaml").write_text(yaml.safe_dump(terrain))
    check_request([*FAST, "terrain=fuzz"], root, preflight_only)


# ---------------------------------------------------------------------------- fuzzing: DEM files

#: The coarse grid spans x -22..28 and y -35..30 km; a north-up raster covering it with 1 km spare.
COVER_X, COVER_Y = (-23.0, 52.0), (31.0, 67.0)
DTYPES = [
    "float64",
    "float32",
    "float16",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint64",
    "bool",
    "complex64",
    "U4",
    "object",
]


@st.composite
def dem_cases(draw: st.DrawFn) -> tuple[np.ndarray | bytes, list[Any]]:
    """An array (or raw bytes) for ``dem.npy`` and a transform for it."""
    if draw(st.integers(0, 15)) == 0:
        return draw(st.binary(max_size=64)), [0.5, 0, -22, 0, -0.5, 30]
    shape = draw(
        st.one_of(
            st.sampled_from(
                [(), (0,), (7,), (0, 7), (1, 1), (3, 3), (20, 25), (65, 50), (2, 3, 4)]
            ),
            st.lists(st.integers(0, 40), min_size=2, max_size=2).map(tuple),
        )
    )
    lo, hi = draw(
        st.sampled_from([(0, 1000), (200, 800), (-400, 8800), (-1e6, 1e6), (1e300, 1e308)])
    )
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    arr = rng.uniform(lo, hi, size=shape)
    special = draw(st.sampled_from([None, None, None, np.nan, np.inf, -np.inf, 1e308, -9999.0]))
    if special is not None and arr.size:
        arr.flat[int(rng.integers(arr.size))] = special
    dtype = draw(st.sampled_from(DTYPES))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        arr = arr.astype(dtype)
    rows, cols = (shape + (1, 1))[:2] if len(shape) < 2 else shape[:2]
    mode = draw(st.sampled_from(["cover", "cover", "cover", "shifted", "random", "short", "flat"]))
    px, py = COVER_X[1] / max(cols, 1), COVER_Y[1] / max(rows, 1)
    transform: list[Any] = [px, 0.0, COVER_X[0], 0.0, -py, COVER_Y[0]]
    if mode == "shifted":
        transform[2] += draw(st.floats(-60, 60))
    elif mode == "random":
        transform = draw(st.lists(st.one_of(numbers, st.floats()), min_size=6, max_size=6))
    elif mode == "short":
        transform = transform[: draw(st.integers(0, 5))]
    elif mode == "flat":
        transform[0] = 0.0
    return arr, transform


def _transform_text(transform: list[Any]) -> str:
    return "[" + ",".join(repr(float(v)) for v in transform) + "]"


@settings(FUZZ, max_examples=examples(20))
@given(case=dem_cases())
def test_fuzzed_dem_arrays_are_refused_cleanly_or_run(
    case: tuple[np.ndarray | bytes, list[Any]],
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    preflight_only: list,
) -> None:
    arr, transform = case
    STATS["dem_arrays_fuzzed"] += 1
    root = tmp_path_factory.mktemp("fuzz-dem", numbered=True)
    monkeypatch.setenv("GAPSIM_DATA_DIR", str(root))
    path = root / "dem.npy"
    if isinstance(arr, bytes):
        path.write_bytes(arr)
    else:
        np.save(path, arr, allow_pickle=arr.dtype == object)
    request = [
        *FAST,
        "terrain.dem.source=npy",
        f"terrain.dem.path={path}",
        f"terrain.dem.transform={_transform_text(transform)}",
    ]
    line = check_request(request, root, preflight_only)
    assert line is None or line.startswith("gapsim: error: terrain.dem."), line


@pytest.mark.parametrize(
    "where",
    ["../outside/dem.npy", "{outside}/dem.npy", "link.npy", "dem.txt"],
)
def test_dem_path_outside_the_allowed_folders_is_refused(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work, outside = tmp_path / "work", tmp_path / "outside"
    work.mkdir(), outside.mkdir()
    np.save(outside / "dem.npy", np.full((65, 50), 300.0))
    (work / "link.npy").symlink_to(outside / "dem.npy")  # inside by name, outside in fact
    (work / "dem.txt").write_text("300")
    monkeypatch.chdir(work)
    monkeypatch.delenv("GAPSIM_DATA_DIR", raising=False)
    path = where.format(outside=outside)
    out = work / "out"
    code, _, err = cli(
        "run",
        *FAST,
        "terrain.dem.source=npy",
        f"terrain.dem.path={path}",
        "terrain.dem.transform=[1,0,-23,0,-1,31]",
        f"hydra.run.dir={out}",
    )
    line = assert_refused(code, err, out, "terrain.dem.path")
    assert ("must lie inside" in line) or (".npy" in line)


# --------------------------------------------------------------------------- dashboard controls

controls = st.fixed_dictionaries(
    {},
    optional={
        "scenario": st.one_of(st.sampled_from(["status_quo_2019", "joint_brigades"]), texts, junk),
        "gap_width_km": st.one_of(numbers, texts, junk),
        "coordination": st.one_of(st.sampled_from(COORDINATION_LEVELS), texts, numbers),
        "seed": st.one_of(st.integers(-5, 2**70), texts, junk),
        "terrain": st.one_of(st.just("qarachogh_coarse"), texts),
    },
)


@settings(FUZZ, max_examples=examples(6))
@given(requested=controls)
def test_fuzzed_dashboard_controls_never_crash_the_page(requested: dict[str, Any]) -> None:
    """The page's controls go through ``load_config``; a refused value falls back, named."""
    dashboard = pytest.importorskip("sim.app.dashboard")
    STATS["dashboard_inputs_fuzzed"] += 1
    requested = {"terrain": "qarachogh_coarse", **requested}
    config, errors = dashboard.compose(requested)
    assert isinstance(config, Config)
    for err in errors:
        assert isinstance(err, ConfigError) and "\n" not in str(err)
    STATS["dashboard_values_refused"] += len(errors)


# ------------------------------------------------------------------------------------- safety


def test_dashboard_listens_on_loopback_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    from sim.commands import dashboard as cmd

    assert cmd.parse_args([]) == ("127.0.0.1", cmd.DEFAULT_PORT)
    started: list[list[str]] = []

    class FakeServer:
        def __init__(self, argv: list[str], **_: Any) -> None:
            started.append(argv)

        def wait(self) -> int:
            return 0

    monkeypatch.setattr(cmd.subprocess, "Popen", FakeServer)
    monkeypatch.setattr(cmd, "_check_port_free", lambda host, port: None)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert cmd.dashboard_command([]) == 0
    argv = started[0]
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    with pytest.raises(ConfigError, match="^host="):
        cmd.parse_args(["host=0.0.0.0;rm -rf /"])


SOURCE_FILES = sorted((REPO / "sim").rglob("*.py"))


def test_no_config_instantiates_classes_or_loads_unsafely() -> None:
    """No ``instantiate``/``_target_`` on user input, only safe YAML, no pickles."""
    risky = re.compile(
        r"hydra\.utils|instantiate\(|yaml\.load\(|yaml\.unsafe_load|Loader=yaml\.(Unsafe|Full)?Loader"
        r"|pickle\.loads?\(|allow_pickle=True|\beval\(|\bexec\("
    )
    hits = [
        f"{p.relative_to(REPO)}:{i}: {line.strip()}"
        for p in SOURCE_FILES
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if risky.search(line)
    ]
    assert hits == []
    targets = [
        f"{p.relative_to(REPO)}: {line.strip()}"
        for p in SOURCE_FILES
        for line in p.read_text().splitlines()
        if "_target_" in line
    ]
    # The one `_target_` set is the CLI's own constant callback for multirun, not user input;
    # sim/config/safety.py reads `_target_` only to refuse what is not allow-listed.
    assert all("START_METHOD_CALLBACK" in t or t.startswith("sim/config/safety.py")
               for t in targets), targets


@pytest.mark.parametrize(
    "key", ["+_target_=os.system", "+model._target_=os.system", "+scenario._target_=builtins.exec"]
)
def test_target_keys_are_refused(key: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, _, err = cli("run", *FAST, key, f"hydra.run.dir={out}")
    assert "unknown key" in assert_refused(code, err, out)


# -------------------------------------------------------------------------- disk full / no space


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs filled to the last byte (needs root and mount rights; skipped otherwise)."""
    mnt = tmp_path / "full"
    mnt.mkdir()
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        with contextlib.suppress(OSError), open(mnt / "filler", "wb") as fh:
            while True:
                fh.write(b"\0" * 4096)
                fh.flush()
        STATS["faults_disk_full"] += 1
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_output_disk_is_refused_before_work(full_disk: Path) -> None:
    out = full_disk / "run"
    code, _, err = cli("run", *FAST, f"hydra.run.dir={out}")
    assert_refused(code, err, out, "hydra.run.dir")


# ------------------------------------------------------------------------------- interruptions

#: Eight replicates of 45 days on two workers: a few seconds each, so signals land mid-run.
RUN = ["run", "replicates=8", "days=45", "terrain=qarachogh_coarse", "workers=2"]


def start_run(out: Path, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(GAPSIM), *RUN, f"hydra.run.dir={out}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        start_new_session=True,  # its own process group, like a job in a terminal
    )


def complete(out: Path) -> set[tuple[str, int]]:
    """Completed replicates on disk (bundles and the journal), as (point hash, replicate)."""
    return {(p, r) for p, reps in completed_replicates(out).items() for r in reps}


def wait_for_more(out: Path, than: int, proc: subprocess.Popen[str], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while len(complete(out)) <= than:
        if proc.poll() is not None:
            raise AssertionError(f"gapsim ended before the signal: {proc.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError("no replicate completed in time")
        time.sleep(0.02)




@pytest.fixture(scope="module")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same command, never interrupted."""
    if not GAPSIM.exists():
        pytest.skip(f"no console script at {GAPSIM}")
    root = tmp_path_factory.mktemp("reference")
    res = subprocess.run(
        [str(GAPSIM), *RUN, f"hydra.run.dir={root / 'ref'}"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=root,
    )
    assert res.returncode == 0, res.stderr
    return root / "ref"


def interrupt(out: Path, cwd: Path, signum: signal.Signals, group: bool) -> tuple[set, str]:
    """Start the run, signal it once a replicate is complete, check how it stopped."""
    proc = start_run(out, cwd)
    wait_for_more(out, 0, proc)
    (os.killpg if group else os.kill)(proc.pid, signum)
    STATS[f"signals_{signum.name}"] += 1
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("gapsim: interrupted:") and f"into {out} to resume" in last, last
    assert group_gone(proc.pid, timeout=15), "worker processes outlived the interrupted run"
    assert not (out / "runs.parquet").exists(), "a partial result table was written"
    done = complete(out)
    assert 1 <= len(done) < 8, f"{len(done)} complete: the signal came too late to test anything"
    STATS[f"replicates_complete_after_{signum.name}"] += len(done)
    return done, err


def resume(out: Path, cwd: Path, before: set[tuple[str, int]], reference: Path) -> None:
    """Rerun the same command: only the missing replicates run; the tables match the reference."""
    res = subprocess.run(
        [str(GAPSIM), *RUN, f"hydra.run.dir={out}"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
    )
    assert res.returncode == 0, res.stderr
    n = len(before)
    assert f"{8 - n} replicates computed, {n} resumed, 0 failed" in res.stdout, res.stdout
    after = complete(out)
    assert before <= after, "a completed replicate was lost"
    assert compare_tables(reference, out) == []
    assert [p for p in out.rglob("_*") if p.is_file()] == []
    STATS["replicates_lost_after_resume"] += 8 - len(after)


def test_ctrl_c_then_resume_gives_the_uninterrupted_tables(
    reference_run: Path, tmp_path: Path
) -> None:
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) once a replicate is
    complete: the run stops, keeps what is done and says how to resume; the same command again
    computes only the rest, and the tables equal those of the uninterrupted run."""
    out = tmp_path / "run"
    done, _ = interrupt(out, tmp_path, signal.SIGINT, group=True)
    resume(out, tmp_path, done, reference_run)


def kill_group_after_progress(
    out: Path, cwd: Path, before: set[tuple[str, int]]
) -> set[tuple[str, int]]:
    """Rerun, then SIGKILL the whole group (parent, forkserver, workers) once one more is done."""
    proc = start_run(out, cwd)
    wait_for_more(out, len(before), proc)
    os.killpg(proc.pid, signal.SIGKILL)
    STATS["signals_SIGKILL"] += 1
    proc.communicate(timeout=60)
    assert group_gone(proc.pid, timeout=15)
    after = complete(out)
    assert before <= after, "SIGKILL lost a completed replicate"
    for shard in (out / "shards").rglob("[!_]*.parquet"):
        pq.read_table(shard)  # every bundle file is whole
    STATS["replicates_complete_after_SIGKILL"] += len(after)
    STATS["temp_files_left_by_SIGKILL"] += sum(1 for p in out.rglob("_*") if p.is_file())
    return after


@pytest.mark.slow
def test_sigterm_then_sigkill_then_resume_gives_the_uninterrupted_tables(
    reference_run: Path, tmp_path: Path
) -> None:
    """SIGTERM to the parent only (a service manager stopping it), then SIGKILL of the whole
    group during the rerun, then a final rerun: SIGKILL loses at most the replicates in flight
    (every one complete before it is kept unchanged), and the final tables equal those of
    the uninterrupted run. Slow: three more runs of the real CLI (about 30 s)."""
    out = tmp_path / "run"
    first, _ = interrupt(out, tmp_path, signal.SIGTERM, group=False)
    second = kill_group_after_progress(out, tmp_path, first)
    resume(out, tmp_path, second, reference_run)


@pytest.mark.parametrize("end", ["low", "high"])
def test_every_model_parameter_at_the_end_of_its_range_runs(end: str, tmp_path: Path) -> None:
    """All documented ranges at once, at their low or high end (cross-field rules respected)."""
    overrides = []
    for f in dataclasses.fields(ModelParams):
        if f.metadata.get("names"):  # model.ablate: mechanism names, not a range
            continue
        value = f.metadata["range"][0 if end == "low" else 1]
        if f.name == "tick_hours":
            value = 0.5 if end == "low" else 3.0
        elif f.name in ("share_shepherd", "share_truffle", "share_driver"):
            value = min(value, 1 / 3)
        if f.default is dataclasses.MISSING:  # per coordination level
            overrides.append(f"model.{f.name}=[{','.join([repr(value)] * 5)}]")
        else:
            overrides.append(f"model.{f.name}={value!r}")
    cfg, _ = load_config([*FAST, *overrides])
    run_accepted(resolved_dict(cfg), tmp_path / "run")
