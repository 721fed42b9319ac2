"""`gapsim sweep` end to end: validation, the tidy table, resume, Sobol on the model, multirun."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from sim.cli import main
from sim.errors import ConfigError
from sim.experiments.collect import collect_multirun
from sim.experiments.study import OUTCOMES, load_study, plan_study


def write_study(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


SMALL = """
base: {terrain: qarachogh_coarse, days: 5}
factors:
  gap_width_km: {range: [2, 6], steps: 2}
  coordination: {levels: [none, joint_brigades]}
design: full_factorial
replicates: 2
outcomes: [incidents, gap_control]
figures:
  - {kind: heatmap, x: gap_width_km, y: coordination}
  - {kind: lines, x: gap_width_km, by: coordination}
"""


# ------------------------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["experiment=atlantis"], "gap_vs_coordination"),  # lists the valid studies
        ([], "name a study"),
        (["experiment=gap_vs_coordination", "gap_width_km=3"], "is a factor"),
        (["experiment=sensitivity_sobol", "design_size=12"], "power of 2"),
    ],
)
def test_bad_requests_fail_in_one_line(args, needle, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["sweep", *args, f"hydra.run.dir={out}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gapsim: error:") and needle in err and "\n" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("factor", "needle"),
    [
        ("model.detect_rate: {range: [0.1, 1]}", "did you mean model.detect_rate_per_h"),
        ("gap_width_km: {range: [0, 30]}", "must be between 0 and 20"),
        ("model.n_fighters: {range: [5, 50]}", "model.n_fighters=5"),
        ("model.n_fighters: {range: [50.5, 60]}", "whole number"),
        ("coordination: {levels: [none, joint]}", "coordination='joint'"),
        ("replicates: {range: [1, 5]}", "cannot be a factor"),
        ("model.share_prob: {range: [0, 1]}", "not a single value"),
    ],
)
def test_bad_factors_fail_in_one_line(factor, needle, tmp_path, capsys) -> None:
    study = write_study(tmp_path / "s.yaml", f"factors:\n  {factor}\ndesign: {{type: lhs, n: 4}}\n")
    out = tmp_path / "out"
    assert main(["sweep", f"experiment={study}", f"hydra.run.dir={out}"]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err, err
    assert not out.exists()


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("factors: {gap_width_km: {range: [1, 2]}}\ndesign: {type: annealing}", "design.type"),
        (
            "factors: {gap_width_km: {range: [1, 2]}}\ndesign: nolh\noutcomes: [incidentz]",
            "outcomes",
        ),
        ("factors: {gap_width_km: {range: [2, 1]}}\ndesign: nolh", "factors.gap_width_km.range"),
        (
            "factors: {gap_width_km: {range: [1, 2]}}\ndesign: nolh\nfigures: [heatmap]",
            "figures[0].kind",
        ),
        ("factors: {gap_width_km: {range: [1, 2]}}\ndesign: nolh\nreplicate: 3", "replicate"),
        ("factors: {gap_width_km: {range: [1, 2], stepz: 3}}\ndesign: nolh",
         "factors.gap_width_km.stepz"),
        ("factors: {gap_width_km: {range: [1, 2]}}\ndesign: {type: lhs, n: 4, foo: 1}",
         "design.foo"),
        ("factors: {gap_width_km: {range: [1, 2]}}\ndesign: {type: sobol, second_order: 1}",
         "design.second_order"),
        ("factors: {gap_width_km: {range: [1, x]}}\ndesign: nolh", "factors.gap_width_km.range"),
        ("factors: {gap_width_km: 3}\ndesign: nolh", "factors.gap_width_km"),
        ("factors: {gap_width_km: {range: [0, 2], scale: log}}\ndesign: nolh",
         "factors.gap_width_km.range"),
        ("factors: {gap_width_km: {range: [1, 2], steps: 3}}\ndesign: full_factorial\n"
         "figures: [{kind: lines, x: gap_width_km, y: foo}]", "figures[0].y"),
        ("factors: {gap_width_km: {range: [1, 2]}}\ndesign: {type: lhs, n: 1}", "design.n"),
    ],
)
def test_study_file_errors_name_the_key(text, key, tmp_path) -> None:
    with pytest.raises(ConfigError) as err:
        load_study(write_study(tmp_path / "s.yaml", text))
    assert err.value.key == key
    assert "\n" not in str(err.value) and str(err.value).endswith("s.yaml)")


def test_every_shipped_study_loads_and_plans() -> None:
    for name in ("gap_vs_coordination", "sensitivity_sobol", "data_farming_nolh"):
        plan = plan_study(load_study(name, design_size=8 if name == "sensitivity_sobol" else None))
        assert len(plan.points) == len(plan.design)
    sobol = load_study("sensitivity_sobol")
    assert len(sobol.factors) >= 8 and sobol.factor_names[-1] == "realisation"


def test_duplicate_configs_run_once(tmp_path) -> None:
    study = write_study(
        tmp_path / "s.yaml",
        """
factors:
  model.n_fighters: {range: [50, 150]}
  dummy: {dummy: true}
design: {type: sobol, n: 4, noise: average}
""",
    )
    plan = plan_study(load_study(study))
    assert len(plan.design) == 4 * (2 + 2)
    # per block A, AB_n, AB_dummy, B: AB_dummy repeats A's config and AB_n repeats B's
    assert len(plan.points) == 8
    assert sorted(set(plan.point_of)) == list(range(8))
    assert plan.point_of[:4] == [0, 1, 0, 1]


# -------------------------------------------------------------------------------- a small sweep


def test_small_sweep_table_figures_and_resume(tmp_path, capsys) -> None:
    study = write_study(tmp_path / "small.yaml", SMALL)
    out = tmp_path / "sweep"
    args = ["sweep", f"experiment={study}", "workers=1", f"hydra.run.dir={out}"]
    assert main(args) == 0
    table = pd.read_parquet(out / "sweep.parquet")
    assert len(table) == 4 * 2
    assert list(table.columns[:6]) == [
        "scenario", "design_point", "gap_width_km", "coordination", "replicate", "run_id"]  # fmt: skip
    assert table.groupby("design_point").size().tolist() == [2, 2, 2, 2]
    assert sorted(table["gap_width_km"].unique()) == [2.0, 6.0]
    missing = [o for o in OUTCOMES if o not in table.columns]
    assert not missing, f"OUTCOMES lists columns the model no longer writes: {missing}"
    assert len(pd.read_csv(out / "sweep.csv")) == 8
    for name in ("heatmap_incidents", "heatmap_gap_control", "lines_gap_width_km_by_coordination"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 0
        assert (out / "figures" / f"{name}.svg").stat().st_size > 0
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["outcome"]) == {"incidents", "gap_control"} and len(summary) == 8
    capsys.readouterr()

    assert main(args) == 0  # the same directory again: nothing to compute
    assert "0 replicates computed, 8 resumed" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["jobs"]["computed"] == 0 and manifest["jobs"]["resumed"] == 8
    pd.testing.assert_frame_equal(pd.read_parquet(out / "sweep.parquet"), table)


# ---------------------------------------------------------------------------------- Sobol on model


@pytest.mark.slow
def test_sobol_ranks_an_influential_factor_above_a_dummy(tmp_path) -> None:
    study = write_study(
        tmp_path / "sobol.yaml",
        """
base: {terrain: qarachogh_coarse, days: 10}
factors:
  model.n_fighters: {range: [20, 300]}
  dummy: {dummy: true}
design: {type: sobol, n: 8, noise: realisation, resamples: 200}
replicates: 1
outcomes: [fighters_final]
figures: [sobol]
""",
    )
    out = tmp_path / "out"
    assert main(["sweep", f"experiment={study}", "workers=2", f"hydra.run.dir={out}"]) == 0
    idx = pd.read_csv(out / "sobol_indices.csv").set_index("factor")
    assert set(idx.index) == {"model.n_fighters", "dummy", "realisation"}
    assert idx.loc["model.n_fighters", "ST"] > idx.loc["dummy", "ST"] + 0.3
    assert idx.loc["model.n_fighters", "S1"] > 0.5
    assert idx.loc["model.n_fighters", "ST"] > idx.loc["realisation", "ST"]
    assert abs(idx.loc["dummy", "ST"]) < 0.05
    assert (out / "figures" / "sobol_indices.png").exists()
    assert len(pd.read_parquet(out / "sweep.parquet")) == 8 * (3 + 2)


# --------------------------------------------------------------------------- multirun vs sweep


TWO_POINTS = """
base: {terrain: qarachogh_coarse, days: 20}
factors:
  gap_width_km: {values: [1, 3]}
design: full_factorial
replicates: 2
outcomes: [incidents]
"""


@pytest.fixture(scope="module")
def two_point_sweep(tmp_path_factory) -> pd.DataFrame:
    """`gapsim sweep` of 2 gap widths x 2 replicates x 20 days (shared by the launcher tests)."""
    root = tmp_path_factory.mktemp("two_points")
    study = write_study(root / "two.yaml", TWO_POINTS)
    assert main(["sweep", f"experiment={study}", f"hydra.run.dir={root / 'sweep'}"]) == 0
    return pd.read_parquet(root / "sweep" / "sweep.parquet")


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_multirun_collects_to_the_sweep_table(launcher, two_point_sweep, tmp_path) -> None:
    multi = tmp_path / "multirun"
    code = main([
        "run", "-m", "gap_width_km=1,3", "terrain=qarachogh_coarse", "days=20", "replicates=2",
        "workers=1", f"hydra/launcher={launcher}", f"hydra.sweep.dir={multi}",
    ])  # fmt: skip
    assert code == 0
    collected = collect_multirun(multi)
    assert list(collected.columns[:3]) == ["scenario", "design_point", "gap_width_km"]
    pd.testing.assert_frame_equal(collected, two_point_sweep)  # same rows, run ids and outcomes
    assert main(["collect", str(multi)]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(multi / "sweep.parquet"), two_point_sweep)
