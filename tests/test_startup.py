"""The path from ``gapsim run`` to its first job stays light (issue 19: ``replicates=100000
days=1`` must start its first job within 10 s of the command).

Not timed: the driver's imports up to the moment it hands out the first task are checked by
name, in a fresh interpreter, so a new top-level import of pandas, matplotlib, scipy.ndimage or
the terrain builder on that path fails here instead of slowing every run by a second or more.
The measured figures are in docs/RELIABILITY.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from test_engine_support import RUNNER, base_config

from sim.engine.experiment import Point, run_experiment

REPO = Path(__file__).resolve().parents[1]

#: Modules the driver must not have imported when it hands out the first task: they are needed
#: only after it (the terrain and its map are made in a thread then; tables and figures at the
#: end) or only in workers (Mesa and the model, which the forkserver imports in parallel).
NOT_BEFORE_FIRST_JOB = (
    "pandas",
    "matplotlib",
    "scipy.ndimage",
    "sim.terrain.builder",
    "sim.analysis",
    "mesa",
    "sim.model.model",
)

#: Run in a fresh interpreter: the real ``gapsim run`` up to its first ``submit``, which records
#: ``sys.modules`` and ends the process (no worker is started: ``spawn`` pools start theirs on
#: the first submit, and ``prestart`` only starts a forkserver).
SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import sim.engine.executors as ex

    modules_file, run_dir = sys.argv[1:3]  # Hydra replaces sys.argv while it runs

    def submit(self, fn, *args):
        with open(modules_file, "w") as f:
            json.dump(sorted(sys.modules), f)
        os._exit(0)

    ex.LocalExecutor.submit = submit
    from sim.cli import main

    main(["run", "replicates=100000", "days=1", "terrain=qarachogh_coarse",
          "executor.start_method=spawn", "workers=1", "progress=false",
          "hydra.run.dir=" + run_dir])
    sys.exit("the run ended without handing out a job")
    """
)


def test_the_cli_reaches_its_first_job_without_heavy_imports(tmp_path: Path) -> None:
    modules_file = tmp_path / "modules.json"
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(modules_file), str(tmp_path / "run")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0 and modules_file.exists(), proc.stderr[-3000:]
    modules = set(json.loads(modules_file.read_text()))
    loaded = sorted(m for m in NOT_BEFORE_FIRST_JOB if m in modules)
    assert not loaded, f"imported before the first job: {loaded}"
    # the request itself was validated and written before that job
    assert (tmp_path / "run" / "config.yaml").exists()


def test_importing_the_cli_and_the_terrain_package_is_cheap() -> None:
    """``import sim.cli`` (every command) and ``import sim.terrain`` (reached by every config
    load, through ``sim.terrain.schema``) import no numerical library beyond numpy."""
    code = (
        "import sys, sim.cli, sim.terrain, sim.terrain.schema; "
        "print(' '.join(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('pandas', 'scipy', 'matplotlib', 'shapely', 'pyproj', 'mesa', "
        "'hydra', 'pyarrow') or m == 'sim.terrain.builder')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [], proc.stdout


def test_terrain_names_are_importable_as_before() -> None:
    import sim.terrain as terrain

    for name in terrain.__all__:
        assert getattr(terrain, name) is not None, name
    assert set(terrain.__all__) <= set(dir(terrain))


def test_on_start_is_called_once_after_the_first_job_is_handed_out(tmp_path: Path) -> None:
    """``run_experiment(on_start=...)``: called once per run, also when everything is resumed
    (then before compaction), and a run's results do not depend on it."""
    points = [Point(base_config(5))]
    calls: list[int] = []
    kw = {"workers": 2, "progress": None, "runner": RUNNER}
    first = run_experiment(points, tmp_path / "a", replicates=4, on_start=lambda: calls.append(1),
                           **kw)
    assert calls == [1] and first.done == 4
    again = run_experiment(points, tmp_path / "a", replicates=4, on_start=lambda: calls.append(2),
                           **kw)
    assert calls == [1, 2] and again.skipped == 4 and again.done == 0
    plain = run_experiment(points, tmp_path / "b", replicates=4, **kw)
    for table in ("runs", "timeseries", "incidents"):
        assert (first.tables[table].read_bytes() == plain.tables[table].read_bytes()), table
