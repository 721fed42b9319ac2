"""The Python API (sim.api): the command line's words and checks, its directories, its tables."""

from __future__ import annotations

import json
import multiprocessing

import numpy as np
import pandas as pd
import pytest

from sim import api
from sim.cli import main
from sim.errors import ConfigError

COARSE = {"terrain": "qarachogh_coarse"}

SMALL_STUDY = """
base: {scenario: status_quo_2019}
factors:
  gap_width_km: {values: [2, 6]}
design: {type: full_factorial}
replicates: 1
outcomes: [incidents]
figures: [{kind: effects}]
"""


def test_words_spell_keyword_arguments_as_the_command_line() -> None:
    got = api.words("seed=7", gap_width_km=6.5, coordination="jcc", model__n_fighters=np.int64(150),
                    scenarios=["status_quo_2019", "joint_brigades"], crn=False, baseline=None,
                    model={"report_base": np.float64(0.25)}, extra={"note": "two words"})
    assert got == ["seed=7", "gap_width_km=6.5", "coordination=jcc", "model.n_fighters=150",
                   "scenarios=[status_quo_2019,joint_brigades]", "crn=false", "baseline=null",
                   "model.report_base=0.25", "extra.note='two words'"]
    assert api.words(**{"model.n_fighters": 120}) == ["model.n_fighters=120"]
    with pytest.raises(ConfigError, match="given twice"):
        api.words("gap_width_km=3", gap_width_km=4)
    with pytest.raises(ConfigError, match="key=value"):
        api.words("gap_width_km")


def test_keyword_arguments_configure_as_the_command_line_words() -> None:
    by_words = api.config("gap_width_km=6", "coordination=joint_ops", "model.n_fighters=150",
                          "terrain=qarachogh_coarse")
    by_kwargs = api.config(gap_width_km=6, coordination="joint_ops", model__n_fighters=150, **COARSE)
    assert by_words == by_kwargs
    assert by_kwargs["model"]["n_fighters"] == 150 and by_kwargs["terrain"]["cell_m"] == 500


@pytest.mark.parametrize(("cli", "call"), [
    (["run", "gap_width_km=-1"], lambda out: api.run(gap_width_km=-1, out_dir=out)),
    (["run", "coordination=sometimes"], lambda out: api.run(coordination="sometimes", out_dir=out)),
    (["run", "model.n_fighters=-5"], lambda out: api.run(model__n_fighters=-5, out_dir=out)),
    (["run", "scenario=nowhere"], lambda out: api.run(scenario="nowhere", out_dir=out)),
    (["run", "replicates=0"], lambda out: api.run("replicates=0", out_dir=out)),
    (["compare", "scenarios=[status_quo_2019]"],
     lambda out: api.compare(scenarios=["status_quo_2019"], out_dir=out)),
    (["sweep", "experiment=nothing_like_it"],
     lambda out: api.sweep(experiment="nothing_like_it", out_dir=out)),
])  # fmt: skip
def test_bad_words_raise_the_command_lines_one_line_error(cli, call, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert main([*cli, f"hydra.run.dir={out}"]) == 2
    line = capsys.readouterr().err.strip()
    with pytest.raises(ConfigError) as err:
        call(out)
    assert line == f"gapsim: error: {err.value}"
    assert "\n" not in str(err.value)
    assert not out.exists(), "nothing is written for a bad request"


def test_api_refuses_other_hydra_settings_and_a_second_out_dir(tmp_path) -> None:
    with pytest.raises(ConfigError, match="out_dir"):
        api.run("hydra.sweep.dir=x")
    with pytest.raises(ConfigError, match="once"):
        api.run(f"hydra.run.dir={tmp_path}", out_dir=tmp_path)


def test_run_writes_the_command_lines_directory_and_resumes(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    result = api.run(replicates=2, days=8, workers=1, out_dir=out, verbose=False, **COARSE)
    assert result.out_dir == out and capsys.readouterr().out == ""
    runs = result.runs
    assert runs["replicate"].tolist() == [0, 1] and "incidents" in runs
    assert set(result.timeseries["replicate"]) == {0, 1}
    incidents = result.summary.query("outcome == 'incidents'")
    assert incidents["mean"].iloc[0] == pytest.approx(runs["incidents"].mean())
    command = result.manifest["command"]
    assert command == (f"gapsim run replicates=2 days=8 workers=1 terrain=qarachogh_coarse "
                       f"hydra.run.dir={out}")
    assert result.config["days"] == 8 and (out / "figures" / "map.png").is_file()

    again = api.run(replicates=2, days=8, workers=1, out_dir=out, verbose=False, **COARSE)
    assert json.loads((out / "manifest.json").read_text())["jobs"]["computed"] == 0
    pd.testing.assert_frame_equal(again.runs, runs)
    assert main(["reproduce", str(out)]) == 0, "gapsim reproduce reruns an API run"


def test_compare_and_sweep_return_their_tables(tmp_path) -> None:
    comparison = api.compare(scenarios=["status_quo_2019", "joint_brigades"], replicates=2,
                             days=5, workers=1, out_dir=tmp_path / "compare", verbose=False,
                             **COARSE)  # fmt: skip
    assert set(comparison.runs["scenario"]) == {"status_quo_2019", "joint_brigades"}
    assert set(comparison.differences["scenario"]) == {"joint_brigades"}
    assert comparison.report.is_file()
    arms = json.loads((comparison.out_dir / "scenarios.json").read_text())
    assert {arm["days"] for arm in arms.values()} == {5}, "the words apply to every scenario"
    assert isinstance(api.load(comparison.out_dir), api.CompareResult)

    study = tmp_path / "study.yaml"
    study.write_text(SMALL_STUDY)
    swept = api.sweep(experiment=str(study), days=5, workers=1, out_dir=tmp_path / "sweep",
                      verbose=False, **COARSE)  # fmt: skip
    assert swept.table["gap_width_km"].tolist() == [2.0, 6.0]
    assert set(swept.summary["outcome"]) == {"incidents"} and len(swept.design) == 2
    assert "effects" in swept.indices and swept.figures
    assert isinstance(api.load(swept.out_dir), api.SweepResult)


def test_model_is_built_from_the_same_words() -> None:
    from sim.model.model import SecurityGapModel

    model = api.model(gap_width_km=5, days=2, replicate=3, **COARSE)
    assert isinstance(model, SecurityGapModel)
    assert model.replicate == 3 and model.config.gap_width_km == 5 and model.config.days == 2
    model.step()
    other = api.model(gap_width_km=5, days=2, replicate=3, **COARSE)
    other.step()  # a second live model leaves the first one's grid alone
    model.step()
    with pytest.raises(ConfigError):
        api.model(gap_width_km=99)


def test_a_model_run_to_the_end_is_the_replicate_evaluate_runs() -> None:
    model = api.model(gap_width_km=3, days=3, replicate=1, **COARSE)
    model.run()
    expected = api.evaluate(gap_width_km=3, days=3, replicate=1, **COARSE)
    pd.testing.assert_series_equal(pd.Series(model.outcomes(), dtype=object),
                                   pd.Series(expected, dtype=object))  # NaN equals NaN here


def test_evaluate_refuses_words_that_do_not_apply_to_one_replicate() -> None:
    with pytest.raises(ConfigError, match="replicates"):
        api.evaluate(replicates=5)
    with pytest.raises(ConfigError, match="replicate"):
        api.evaluate({"replicate": -1})
    with pytest.raises(ConfigError, match="gap_width_km"):
        api.evaluate(gap_width_km=-2)


def test_evaluate_in_a_pool_of_two_matches_gapsim_run(tmp_path) -> None:
    words = {"gap_width_km": 5.0, "coordination": "liaison", "days": 20, "seed": 4242, **COARSE}
    out = tmp_path / "run"
    assert main(["run", "replicates=2", "workers=1", *api.words(**words),
                 f"hydra.run.dir={out}"]) == 0
    runs = pd.read_parquet(out / "runs.parquet").set_index("replicate")

    # forkserver: the test process may run threads (fork would warn of deadlocks)
    with multiprocessing.get_context("forkserver").Pool(2) as pool:
        rows = pool.map(api.evaluate, [{**words, "replicate": r} for r in (0, 1)])
    assert set(rows[0]) == set(runs.columns) - {"scenario", "run_id"}
    for r, row in enumerate(rows):
        for key, value in row.items():
            stored = runs.loc[r, key]
            assert stored == value or (pd.isna(stored) and pd.isna(value)), f"replicate {r}: {key}"
    assert rows[0] != rows[1], "two replicates draw different random numbers"


def test_ema_workbench_calls_evaluate_directly() -> None:
    from sim.experiments.discover import quiet_ema

    with quiet_ema():
        from ema_workbench import (
            Constant,
            IntegerParameter,
            Model,
            ScalarOutcome,
            perform_experiments,
        )

        model = Model("gapsim", function=api.evaluate)
        model.uncertainties = [IntegerParameter("model__n_fighters", 50, 150)]
        model.constants = [Constant("days", 5), Constant("gap_width_km", 4.0),
                           Constant("terrain", "qarachogh_coarse")]
        model.outcomes = [ScalarOutcome("incidents"), ScalarOutcome("fighters_final")]
        experiments, outcomes = perform_experiments(model, 2)  # EMA's sequential evaluator
    assert len(outcomes["fighters_final"]) == 2
    first = int(experiments.loc[0, "model__n_fighters"])
    direct = api.evaluate(model__n_fighters=first, days=5, gap_width_km=4.0, **COARSE)
    assert outcomes["fighters_final"][0] == direct["fighters_final"]
    assert outcomes["incidents"][0] == direct["incidents"]
