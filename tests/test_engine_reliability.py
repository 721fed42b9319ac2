"""Attacks on the engine and its results store (issue 19), each as it was reproduced.

Every test here failed on the code before the change (the commit that added this file says how)
and states what now happens. The table of attacks and outcomes is in ``docs/RELIABILITY.md``.
All tests use the stand-in runner of ``test_engine_support`` (fast, deterministic), except where
the attack goes through the real ``gapsim`` command.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import test_engine_support
from test_engine_support import RUNNER, TESTS_DIR, base_config, markers, write_control

from sim.engine.experiment import Point, run_experiment
from sim.engine.reproduce import compare_tables
from tests.conftest import group_gone

REPO = Path(__file__).resolve().parents[1]
GAPSIM = Path(sys.executable).with_name("gapsim")
KW: dict[str, Any] = {"workers": 2, "progress": None, "runner": RUNNER}


def shard_files(out: Path, table: str = "runs") -> list[Path]:
    """Live shard files of one table (whatever the layout), oldest first."""
    root = out / "shards" / table
    found = [p for p in root.rglob("*.parquet") if not p.name.startswith(("_", "."))]
    return sorted(found, key=lambda p: (p.stat().st_mtime_ns, str(p)))


def sibling(path: Path, out: Path, table: str) -> Path:
    """The shard of another table written together with ``path`` (same place under shards/)."""
    rel = path.relative_to(out / "shards" / "runs")
    return out / "shards" / table / rel


def one_line_error(text: str) -> str:
    """The single non-empty line of an error output (fails if there are more)."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


def cli(*args: str) -> tuple[int, str, str]:
    """``sim.cli.main`` in-process: (exit code, stdout, stderr)."""
    from sim.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


# --------------------------------------------------------------- run ids cover every input


@pytest.mark.parametrize("key", ["terrain.dem.path", "calibration.posterior_path"])
def test_changed_input_file_recomputes_every_replicate(tmp_path: Path, key: str) -> None:
    """Attack: rerun into a folder after the file a config value names (a DEM, a posterior) has
    changed. Before: "0 computed, 2 resumed" (results of two inputs mixed). Now: the input's
    content hash is part of every run id, so all replicates are computed again."""
    data = tmp_path / "input.npy"
    np.save(data, np.zeros((4, 4)))
    head, _, leaf = key.rpartition(".")
    nested: dict[str, Any] = {leaf: str(data)}
    for part in reversed(head.split(".")):
        nested = {part: nested}
    points = [Point(base_config(**nested))]
    first = run_experiment(points, tmp_path / "out", replicates=2, **KW)
    assert first.done == 2
    before = set(pd.read_parquet(first.tables["runs"]).run_id)
    same = run_experiment(points, tmp_path / "out", replicates=2, **KW)
    assert (same.done, same.skipped) == (0, 2)  # unchanged input: resumed
    np.save(data, np.ones((4, 4)))
    changed = run_experiment(points, tmp_path / "out", replicates=2, **KW)
    assert (changed.done, changed.skipped) == (2, 0)
    (note,) = [n for n in changed.notes if "not resumed" in n]
    assert key in note and "computed again" in note, note
    runs = pd.read_parquet(changed.tables["runs"])
    assert len(runs) == 2 and set(runs.run_id).isdisjoint(before)


def test_model_version_change_recomputes_every_replicate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack: the model's behaviour changed (its MODEL_VERSION was bumped) and a rerun resumes
    into the old folder. Before: old replicates were resumed. Now: the version is part of every
    run id (and of the manifest), so everything is recomputed."""
    points = [Point(base_config())]
    run_experiment(points, tmp_path, replicates=2, **KW)
    monkeypatch.setattr(test_engine_support, "MODEL_VERSION", 2)  # read by the parent
    again = run_experiment(points, tmp_path, replicates=2, **KW)
    assert (again.done, again.skipped) == (2, 0)
    assert any("model version 1 -> 2" in n for n in again.notes), again.notes


# ------------------------------------------------------------------ shards that lie or break


@pytest.mark.parametrize("table", ["runs", "timeseries"])
def test_truncated_shard_is_recomputed(tmp_path: Path, table: str) -> None:
    """Attack: a shard cut short (a full disk or a copy that stopped). Before: never recomputed,
    and every rerun ended in a 33-line pyarrow traceback at compaction. Now: resume reads every
    shard's footer, sets a broken one aside and recomputes its replicates."""
    points = [Point(base_config())]
    ref = run_experiment(points, tmp_path / "ref", replicates=4, **KW)
    out = tmp_path / "out"
    run_experiment(points, out, replicates=4, **KW)
    victim = sibling(shard_files(out)[0], out, table)
    size = victim.stat().st_size
    with victim.open("r+b") as fh:
        fh.truncate(size // 2)
    again = run_experiment(points, out, replicates=4, **KW)
    assert again.ok and again.done >= 1
    assert compare_tables(ref.out_dir, out) == []


def test_shards_copied_under_other_names_are_rejected(tmp_path: Path) -> None:
    """Attack: shard files copied over the names of other shards. Before: accepted, so the
    tables held one replicate's rows several times (n=3000 from 4 replicates). Now: every shard's
    stored provenance (its own name, run ids, replicates) is checked before it is trusted; the
    copies are set aside and their replicates recomputed."""
    points = [Point(base_config())]
    ref = run_experiment(points, tmp_path / "ref", replicates=4, **KW)
    out = tmp_path / "out"
    run_experiment(points, out, replicates=2, **KW)
    run_experiment(points, out, replicates=4, **KW)
    runs = shard_files(out)
    assert len(runs) >= 2
    for victim in runs[1:]:
        for table in ("runs", "timeseries", "incidents"):
            shutil.copyfile(sibling(runs[0], out, table), sibling(victim, out, table))
    again = run_experiment(points, out, replicates=4, **KW)
    assert again.ok
    assert compare_tables(ref.out_dir, out) == []


# ----------------------------------------------------------------- one run per folder, cleanup

HOLDER = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {tests!r})
    from sim.engine.experiment import Point, run_experiment
    from test_engine_support import RUNNER, base_config
    config = base_config(test_control=sys.argv[2])
    run_experiment([Point(config)], sys.argv[1], replicates=6, workers=1, progress=None,
                   runner=RUNNER)
    """
).format(tests=str(TESTS_DIR))


def test_second_concurrent_run_into_a_folder_is_refused_naming_the_holder(
    tmp_path: Path,
) -> None:
    """Attack: two runs into one folder at once. Before: both exited 0, config.yaml described one
    and the tables the other, and one could delete the other's temporary files. Now: an exclusive
    lock per run folder; the second run fails at once with one line naming the holder."""
    # each replicate sleeps 10 s: the holder keeps the folder for a minute (killed when done)
    control = write_control(tmp_path / "control.json", sleep_s=10, marker_dir=str(tmp_path / "m"))
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(out), str(control)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not markers(tmp_path / "m"):
            assert holder.poll() is None, holder.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        start = time.monotonic()
        with pytest.raises(Exception) as caught:
            run_experiment([Point(base_config(test_control=str(control)))], out, replicates=6, **KW)
        assert time.monotonic() - start < 5  # at once, not after the holder finishes
        text = str(caught.value)
        assert "\n" not in text and str(out) in text and f"pid {holder.pid}" in text, text
        # the command line: one line, exit 2, and nothing written (not even Hydra's .hydra/)
        code, _, err = cli("run", "terrain=qarachogh_coarse", "days=2", "replicates=1",
                           f"hydra.run.dir={out}")
        line = one_line_error(err)
        assert code == 2 and f"pid {holder.pid}" in line and "hydra.run.dir" in line, line
        assert not (out / ".hydra").exists() and not (out / "config.yaml").exists()
    finally:
        os.killpg(holder.pid, signal.SIGTERM)
        holder.communicate(timeout=30)
        assert group_gone(holder.pid)


def test_cleanup_deletes_only_gapsim_temporary_files(tmp_path: Path) -> None:
    """Attack: a user's own file whose name starts with ``_`` in the shard folder. Before:
    ``store.prepare()`` deleted every ``_*`` file under shards/ (a user's ``shards/_notes.txt``
    too). Now: only files that gapsim's own temporary-name pattern matches are removed."""
    out = tmp_path / "out"
    run_experiment([Point(base_config())], out, replicates=1, **KW)
    notes = out / "shards" / "_notes.txt"
    notes.write_text("my notes")
    mine = out / "shards" / "runs" / "_mine.parquet"
    mine.write_text("also mine")
    run_experiment([Point(base_config())], out, replicates=2, **KW)
    assert notes.read_text() == "my notes" and mine.read_text() == "also mine"


# ---------------------------------------------------------------- failures: one line, a fix


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs (needs root and mount rights; skipped otherwise)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(disk: Path) -> None:
    with contextlib.suppress(OSError), open(disk / "filler", "wb") as fh:
        while True:
            fh.write(b"\0" * 4096)
            fh.flush()


def test_full_disk_at_compaction_is_one_line_naming_the_file(small_disk: Path) -> None:
    """Attack: the disk fills up before the tables are compacted. Before: a pyarrow traceback.
    Now: one line naming the file being written and the fix; the shards stay, and once space is
    freed the same call finishes from them without recomputing."""
    out = small_disk / "out"
    points = [Point(base_config(200))]
    run_experiment(points, out, replicates=4, **KW)
    for table in ("runs", "timeseries", "incidents"):
        (out / f"{table}.parquet").unlink()
    fill(small_disk)
    with pytest.raises(Exception) as caught:
        run_experiment(points, out, replicates=4, **KW)
    text = str(caught.value)
    assert "\n" not in text and ".parquet" in text and str(out) in text, text
    assert "No space left" in text and "free" in text, text
    (small_disk / "filler").unlink()
    again = run_experiment(points, out, replicates=4, **KW)
    assert (again.done, again.skipped) == (0, 4)


def test_collect_on_a_run_folder_is_one_line(tmp_path: Path) -> None:
    """Attack: ``gapsim collect`` given a run folder instead of a multirun folder. Before: a
    traceback. Now: one line naming the folder, what it is and what collect wants; exit 2."""
    out = tmp_path / "run"
    code, _, err = cli(
        "run", "terrain=qarachogh_coarse", "days=2", "replicates=1", "workers=1",
        f"hydra.run.dir={out}",
    )
    assert code == 0, err
    code, stdout, err = cli("collect", str(out))
    line = one_line_error(err)
    assert code == 2 and str(out) in line and "multirun" in line, (code, err)
    assert not (out / "sweep.parquet").exists()


# ------------------------------------------------------------------- derived files, rewritten


def test_terrain_npz_is_rewritten_on_every_run(tmp_path: Path) -> None:
    """Attack: rerun into a folder with another gap width. Before: ``terrain.npz`` was written
    only if missing, so it stayed the 4 km terrain. Now: derived files are rewritten every run."""
    from sim.terrain.builder import Terrain

    out = tmp_path / "run"
    common = ["terrain=qarachogh_coarse", "days=2", "replicates=1", "workers=1"]
    assert cli("run", *common, "gap_width_km=4", f"hydra.run.dir={out}")[0] == 0
    four = Terrain.load_npz(out / "terrain.npz")
    assert cli("run", *common, "gap_width_km=6", f"hydra.run.dir={out}")[0] == 0
    six = Terrain.load_npz(out / "terrain.npz")
    assert not np.array_equal(four.layers["gap"], six.layers["gap"])


# ------------------------------------------------------------------------ planning and cost

FIRST_JOB = textwrap.dedent(
    """
    import json, sys, time
    start = time.time()
    sys.path.insert(0, {tests!r})
    from sim.engine.experiment import Interrupted, Point, run_experiment
    from test_engine_support import RUNNER
    config = json.loads(open(sys.argv[3]).read())
    print(json.dumps({{"start": start}}), flush=True)
    try:
        run_experiment([Point(config)], sys.argv[1], replicates=int(sys.argv[2]), workers=2,
                       progress=None, runner=RUNNER)
    except Interrupted as err:
        print(json.dumps({{"done": err.done, "remaining": err.remaining, "msg": str(err)}}))
        sys.exit(130)
    """
).format(tests=str(TESTS_DIR))


def first_job_latency(tmp_path: Path, replicates: int, config: dict[str, Any]) -> dict[str, Any]:
    """Seconds from the script's start to the first replicate's start; then Ctrl-C."""
    name = f"r{replicates}"
    mark = tmp_path / f"{name}-markers"
    control = write_control(tmp_path / f"{name}.json", sleep_s=0.2, marker_dir=str(mark))
    cfg = tmp_path / f"{name}-config.json"
    cfg.write_text(json.dumps(dict(config, test_control=str(control))))
    proc = subprocess.Popen(
        [sys.executable, "-c", FIRST_JOB, str(tmp_path / name), str(replicates), str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not (mark.exists() and any(mark.iterdir())):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no job started in 300 s"
            time.sleep(0.02)
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    lines = [json.loads(line) for line in stdout.strip().splitlines()]
    first = min(float(p.read_text()) for p in mark.glob("*"))
    assert proc.returncode == 130, stderr
    return {"latency": first - lines[0]["start"], **lines[-1]}


def test_planning_is_linear_and_the_first_job_starts_early(tmp_path: Path) -> None:
    """Attack: ``replicates=100000`` (one day each). Before: about 77 s of planning (0.78 ms a
    job) before the first job, and Ctrl-C then said "0 remaining". Now: jobs are planned lazily in
    O(jobs), so the first job starts about as soon as with 10 replicates, and an interrupt counts
    what remains. Measured as a ratio against the 10-replicate run in the same test (the absolute
    figures are in the docs)."""
    from sim.config.load import compose_config

    config = compose_config(["terrain=qarachogh_coarse", "days=1"])  # a full-size config dict
    small = first_job_latency(tmp_path, 10, config)
    large = first_job_latency(tmp_path, 100_000, config)
    assert large["latency"] <= 2 * small["latency"] + 2.0, (small, large)
    assert large["remaining"] >= 100_000 - large["done"] - 10, large
    assert re.search(r"\b(9\d{4}|100000) remaining", large["msg"]), large["msg"]


def test_cost_estimate_is_printed_before_a_long_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Attack: a long horizon (``days=36500``) with no word of what it will cost. Now: before the
    first replicate finishes, a line estimates replicates x days x measured seconds per
    model-day (measured on short probe runs of the same configuration)."""
    control = write_control(tmp_path / "control.json", sleep_per_day_s=0.0002)
    points = [Point(base_config(15_000, test_control=str(control)))]  # 3 s a replicate
    started = time.monotonic()
    res = run_experiment(points, tmp_path / "out", replicates=4, workers=2, progress=False,
                         runner=RUNNER)
    wall = time.monotonic() - started
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "estimate" in line]
    assert lines, err
    line = lines[0]
    assert "4 replicates x 15000 days" in line, line
    # before the first replicate's progress line (the start line "N of N to run; starting" comes
    # first of all, issue 16)
    assert err.index(line) < err.index("replicates: 1/"), err
    seconds = float(re.search(r"about ([\d.]+) s", line).group(1))
    assert res.ok and 0.3 * wall <= seconds <= 3 * wall, (seconds, wall, line)
