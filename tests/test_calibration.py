"""Calibration: the acceptance filter and ranking on synthetic sweep tables, `gapsim calibrate`
(outputs, exit codes, one-line errors, writing the scenario block), and a small end to end."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from sim.cli import main
from sim.config.load import CONFIG_DIR
from sim.validation import calibration as cal

#: Outcomes of a design point that meets every criterion (one year, per replicate).
GOOD = {
    "airstrikes": 76.0, "kills_per_strike": 0.68, "fighters_mean": 110.0, "fighters_final": 112.0,
    "incidents": 50.0, "kidnappings": 10.0, "fake_checkpoints": 8.0, "ambushes": 3.0, "arsons": 1.0,
}  # fmt: skip


def synthetic_table(points: list[dict], replicates: int = 3) -> pd.DataFrame:
    """A sweep table: ``points`` are per-point outcome overrides of GOOD (plus factor ``x``)."""
    rows = []
    for dp, changes in enumerate(points):
        for r in range(replicates):
            row = {"scenario": "status_quo_2019", "design_point": dp,
                   "model.strike_kill_prob": 0.03 + 0.01 * dp, "model.inflow_per_month": 8,
                   "replicate": r, "run_id": dp * 100 + r, **GOOD}  # fmt: skip
            for key, value in changes.items():
                row[key] = value[r] if isinstance(value, list) else value
            rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ pure functions


def test_criteria_are_documented_and_cover_the_targets() -> None:
    names = [c.name for c in cal.CRITERIA]
    assert len(set(names)) == len(names)
    for needed in ("strikes", "kills_per_strike", "fighters_mean", "kidnappings",
                   "fake_checkpoints", "ambushes", "arsons"):  # fmt: skip
        assert needed in names
    for c in cal.CRITERIA:
        assert c.source and (c.low is not None or c.high is not None)
        if "[EST]" not in c.source:
            assert "seed" in c.source or "DOMAIN" in c.source
    assert math.isclose(cal.TARGET_STRIKES_PER_MONTH, 6.3, abs_tol=0.05)
    assert math.isclose(cal.TARGET_KILLS_PER_STRIKE, 0.68, abs_tol=0.01)


def test_factor_columns_and_point_statistics() -> None:
    table = synthetic_table([{}, {"kills_per_strike": [0.5, float("nan"), 0.7]}])
    assert cal.factor_columns(table) == ["model.strike_kill_prob", "model.inflow_per_month"]
    stats = cal.point_statistics(table, cal.factor_columns(table), days=365)
    assert list(stats["design_point"]) == [0, 1] and list(stats["replicates"]) == [3, 3]
    assert stats.loc[1, "kills_per_strike"] == pytest.approx(0.6)  # NaN (no strikes) skipped
    assert stats.loc[0, "strikes_per_year"] == pytest.approx(76.0)
    assert stats.loc[0, "kidnappings_per_month"] == pytest.approx(10 * cal.MONTH_DAYS / 365)
    half = cal.point_statistics(table, [], days=182.5)  # half a year: rates double
    assert half.loc[0, "strikes_per_year"] == pytest.approx(152.0)


@pytest.mark.parametrize(
    ("change", "failed"),
    [
        ({"airstrikes": 50.0}, "strikes"),
        ({"airstrikes": 120.0}, "strikes"),
        ({"kills_per_strike": 1.3}, "kills_per_strike"),
        ({"kills_per_strike": float("nan")}, "kills_per_strike"),
        ({"fighters_mean": 40.0}, "fighters_mean"),
        ({"fighters_final": [120.0, 45.0, 120.0]}, "fighters_final_min"),  # one replicate out
        ({"fighters_final": [120.0, 320.0, 120.0]}, "fighters_final_max"),
        ({"kidnappings": 1.0}, "kidnappings"),
        ({"kidnappings": 60.0}, "kidnappings"),
        ({"fake_checkpoints": 0.0}, "fake_checkpoints"),
        ({"ambushes": 0.0}, "ambushes"),
        ({"arsons": 0.0}, "arsons"),
    ],
)
def test_each_criterion_rejects_its_violation(change, failed) -> None:
    res = cal.calibrate(synthetic_table([{}, change]), days=365)
    pts = res.points.set_index("design_point")
    assert bool(pts.loc[0, "accepted"]) and not bool(pts.loc[1, "accepted"])
    assert not bool(pts.loc[1, f"ok_{failed}"])
    assert pts.loc[1, "passed"] == len(cal.CRITERIA) - 1  # only that criterion failed


def test_arson_needs_only_one_replicate_with_a_fire() -> None:
    res = cal.calibrate(synthetic_table([{"arsons": [0.0, 0.0, 1.0]}]), days=365)
    assert bool(res.points.loc[0, "accepted"])


def test_ranking_by_distance_to_the_point_targets() -> None:
    table = synthetic_table([
        {"airstrikes": 95.0, "kills_per_strike": 0.9},   # accepted, far
        {"airstrikes": 200.0},                           # rejected, whatever its distance
        {"airstrikes": 77.0, "kills_per_strike": 0.70},  # accepted, nearest
        {"airstrikes": 70.0, "kills_per_strike": 0.60},  # accepted, middle
    ])  # fmt: skip
    res = cal.calibrate(table, days=365)
    assert res.counts()["accepted"] == 3 and res.counts()["total"] == 4
    assert list(res.accepted["design_point"]) == [2, 3, 0]
    assert int(res.chosen["design_point"]) == 2
    assert res.chosen["model.strike_kill_prob"] == pytest.approx(0.05)
    assert list(res.points["rank"].astype("Float64").fillna(0)) == [3, 0, 1, 2]
    exact = cal.target_distance(cal.TARGET_STRIKES_PER_MONTH, cal.TARGET_KILLS_PER_STRIKE)
    assert float(exact) == pytest.approx(0.0)
    assert float(cal.target_distance(cal.TARGET_STRIKES_PER_MONTH * 1.1,
                                     cal.TARGET_KILLS_PER_STRIKE * 0.9)) == pytest.approx(
        math.sqrt(0.02))  # fmt: skip


def test_nothing_accepted_gives_no_choice() -> None:
    res = cal.calibrate(synthetic_table([{"airstrikes": 10.0}, {"fighters_mean": 500.0}]), 365)
    assert res.chosen is None and len(res.accepted) == 0 and res.counts()["accepted"] == 0


def test_model_block_replacement_keeps_the_rest_of_the_file() -> None:
    text = "# @package _global_\n# a comment\nscenario:\n  name: x  # inline\ngap_width_km: 4.0\n"
    block = cal.model_block({"strike_kill_prob": cal.rounded(0.0345123), "patrols_ia": 4},
                            ["first line", "second"])  # fmt: skip
    once = cal.replace_model_block(text, block)
    assert once.startswith(text) and "  strike_kill_prob: 0.0345\n" in once
    assert yaml.safe_load(once)["model"] == {"strike_kill_prob": 0.0345, "patrols_ia": 4}
    again = cal.replace_model_block(once, cal.model_block({"strike_kill_prob": 0.04}, ["new"]))
    assert again.startswith(text) and again.count(cal.BEGIN_MARK) == 1
    assert yaml.safe_load(again)["model"] == {"strike_kill_prob": 0.04}
    with pytest.raises(ValueError, match="outside the calibration markers"):
        cal.replace_model_block(text + "model:\n  n_fighters: 90\n", block)
    with pytest.raises(ValueError, match="markers"):
        cal.replace_model_block(text + cal.BEGIN_MARK + "\n", block)
    assert cal.rounded(np.int64(7)) == 7 and cal.rounded(6.1749) == 6.17


# ------------------------------------------------------------------------------------- the CLI


def sweep_dir(tmp_path: Path, points: list[dict]) -> Path:
    out = tmp_path / "sweep"
    out.mkdir()
    synthetic_table(points).to_parquet(out / "sweep.parquet")
    (out / "base_config.yaml").write_text(
        "scenario: {name: status_quo_2019}\nterrain: {name: qarachogh_coarse}\nseed: 7\n"
        "days: 365\n")  # fmt: skip
    (out / "study.yaml").write_text(
        "name: calibration_status_quo\nfactors:\n  model.strike_kill_prob: {kind: continuous}\n"
        "  model.inflow_per_month: {kind: continuous}\ndesign_info: {type: lhs, size: 2, seed: 5}\n")  # fmt: skip
    return out


def test_calibrate_writes_tables_and_the_scenario_block(tmp_path, capsys) -> None:
    out = sweep_dir(tmp_path, [{"airstrikes": 95.0}, {"airstrikes": 200.0}])
    scenario = tmp_path / "status_quo_2019.yaml"
    original = (CONFIG_DIR / "scenario" / "status_quo_2019.yaml").read_text()
    scenario.write_text(original)
    assert main(["calibrate", str(out)]) == 0
    text = capsys.readouterr().out
    assert "accepted: 1 of 2" in text and "chosen: design point 0" in text
    points = pd.read_csv(out / "calibration.csv")
    assert len(points) == 2 and list(points["accepted"]) == [True, False]
    assert {f"ok_{c.name}" for c in cal.CRITERIA} <= set(points.columns)
    chosen = yaml.safe_load((out / "calibration_chosen.yaml").read_text())
    assert chosen["accepted"] == 1 and chosen["total"] == 2
    assert chosen["chosen"]["model_values"] == {"model.strike_kill_prob": 0.03,
                                                "model.inflow_per_month": 8}  # fmt: skip
    assert scenario.read_text() == original  # nothing written without write=true

    assert main(["calibrate", str(out), "write=true", f"scenario_file={scenario}"]) == 0
    written = scenario.read_text()
    assert written.startswith(original.rstrip("\n")) and cal.BEGIN_MARK in written
    data = yaml.safe_load(written)
    assert data["model"] == {"strike_kill_prob": 0.03, "inflow_per_month": 8}
    assert data["scenario"]["name"] == "status_quo_2019"
    assert "calibration_status_quo" in written and "1 of 2 sets" in written
    assert main(["calibrate", str(out), "write=true", f"scenario_file={scenario}"]) == 0
    assert scenario.read_text().count(cal.BEGIN_MARK) == 1  # rewritten in place


def test_calibrate_reports_a_reference_run(tmp_path, capsys) -> None:
    out = sweep_dir(tmp_path, [{}])
    ref = tmp_path / "ref"
    ref.mkdir()
    runs = synthetic_table([{"kills_per_strike": 0.9}, {"kills_per_strike": 0.5}])
    runs["scenario"] = ["status_quo_2019"] * 3 + ["status_quo"] * 3  # like a validate directory
    runs.drop(columns="design_point").to_parquet(ref / "runs.parquet")
    assert main(["calibrate", str(out), f"reference={ref}"]) == 0
    text = capsys.readouterr().out
    assert "reference" in text and "(3 replicates): accepted" in text
    doc = yaml.safe_load((out / "calibration_chosen.yaml").read_text())
    assert doc["reference"]["outcomes"]["kills_per_strike"] == pytest.approx(0.9)
    assert main(["calibrate", str(out), f"reference={ref}", "reference_scenario=status_quo"]) == 0
    doc = yaml.safe_load((out / "calibration_chosen.yaml").read_text())
    assert doc["reference"]["outcomes"]["kills_per_strike"] == pytest.approx(0.5)
    capsys.readouterr()
    assert main(["calibrate", str(out), f"reference={ref}", "reference_scenario=jcc"]) == 2
    assert "must be one of status_quo, status_quo_2019" in capsys.readouterr().err


def test_calibrate_exits_1_when_nothing_is_accepted(tmp_path, capsys) -> None:
    out = sweep_dir(tmp_path, [{"airstrikes": 5.0}])
    scenario = tmp_path / "s.yaml"
    scenario.write_text("# @package _global_\ngap_width_km: 4.0\n")
    assert main(["calibrate", str(out), "write=true", f"scenario_file={scenario}"]) == 1
    assert "accepted: 0 of 1" in capsys.readouterr().out
    assert scenario.read_text() == "# @package _global_\ngap_width_km: 4.0\n"
    assert (out / "calibration.csv").is_file()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["{out}", "{empty}"], "give one finished sweep directory"),
        (["{missing}"], "no such directory"),
        (["{empty}"], "no sweep.parquet there"),
        (["{bad}"], "not a readable Parquet table"),
        (["{out}", "write=maybe"], "must be true or false"),
        (["{out}", "colour=red"], "unknown option"),
        (["{out}", "write=true", "scenario_file={tmp}/none.yaml"], "no such scenario file"),
        (["{out}", "write=true", "scenario_file={clash}"], "outside the calibration markers"),
        (["{out}", "reference={empty}"], "no runs.parquet there"),
    ],
)
def test_calibrate_bad_requests_fail_in_one_line(args, needle, tmp_path, capsys) -> None:
    out = sweep_dir(tmp_path, [{}])
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "sweep.parquet").write_text("not parquet")
    (tmp_path / "clash.yaml").write_text("gap_width_km: 4.0\nmodel:\n  n_fighters: 90\n")
    paths = {"missing": tmp_path / "nope", "empty": tmp_path / "empty", "bad": tmp_path / "bad",
             "out": out, "tmp": tmp_path, "clash": tmp_path / "clash.yaml"}  # fmt: skip
    assert main(["calibrate", *(a.format(**paths) for a in args)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gapsim: error:") and needle in err and "\n" not in err, err
    assert not (out / "calibration.csv").exists()


def test_shipped_study_plans_within_parameter_ranges() -> None:
    from sim.experiments.study import load_study, plan_study

    plan = plan_study(load_study("calibration_status_quo"))
    assert plan.study.design.type == "lhs" and plan.info["seed"] is not None
    assert 30 <= len(plan.design) <= 60 and plan.study.execution["replicates"] >= 3
    assert set(cal.OUTCOMES) <= set(plan.study.outcomes)
    assert all(f.key and f.key.startswith("model.") for f in plan.study.factors)


# ---------------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_small_calibration_sweep_end_to_end(tmp_path, capsys) -> None:
    out = tmp_path / "calib"
    assert main(["sweep", "experiment=calibration_status_quo", "design_size=4", "replicates=1",
                 "days=60", "terrain=qarachogh_coarse", "workers=2", "progress=false",
                 f"hydra.run.dir={out}"]) == 0  # fmt: skip
    capsys.readouterr()
    code = main(["calibrate", str(out)])
    text = capsys.readouterr().out
    assert code in (0, 1) and "of 4" in text  # 60 days are too short to judge a year's patterns
    points = pd.read_csv(out / "calibration.csv")
    assert len(points) == 4 and (points["replicates"] == 1).all()
    assert np.isfinite(points["strikes_per_year"]).all()
    doc = yaml.safe_load((out / "calibration_chosen.yaml").read_text())
    assert doc["days"] == 60 and doc["total"] == 4 and doc["study"] == "calibration_status_quo"


# ------------------------------------------------------------- writing into configs/ safely


def test_calibrate_write_refuses_a_study_name_that_would_inject_yaml(tmp_path, capsys) -> None:
    """A newline in the sweep's study name must not reach the scenario file as YAML (it used
    to be copied into the comment lines, so the text after it became a ``hydra:`` block)."""
    out = sweep_dir(tmp_path, [{"airstrikes": 95.0}])
    study = (out / "study.yaml").read_text().replace(
        "name: calibration_status_quo",
        'name: "calib\\nhydra:\\n  run:\\n    dir: /tmp/elsewhere"')
    (out / "study.yaml").write_text(study)
    assert "\n" in yaml.safe_load(study)["name"]
    scenario = tmp_path / "status_quo_2019.yaml"
    original = (CONFIG_DIR / "scenario" / "status_quo_2019.yaml").read_text()
    scenario.write_text(original)
    code = main(["calibrate", str(out), "write=true", f"scenario_file={scenario}"])
    capsys.readouterr()
    data = yaml.safe_load(scenario.read_text())
    assert "hydra" not in data, "the study name injected a hydra: block"
    assert code in (0, 2)
    if code == 0:  # written: only the model block changed
        assert set(data) == set(yaml.safe_load(original)) | {"model"}


def test_calibrate_write_refuses_a_scenario_name_that_leaves_configs_scenario(
    tmp_path, capsys, monkeypatch
) -> None:
    """The scenario name comes from the sweep's base_config.yaml: ``../config`` must not make
    the command write into configs/config.yaml (here a copy of the tree, to keep the repo safe)."""
    import shutil

    import sim.config.load as load

    tree = tmp_path / "configs"
    shutil.copytree(CONFIG_DIR, tree)
    monkeypatch.setattr(load, "CONFIG_DIR", tree)
    out = sweep_dir(tmp_path, [{"airstrikes": 95.0}])
    (out / "base_config.yaml").write_text(
        "scenario: {name: ../config}\nterrain: {name: qarachogh_coarse}\nseed: 7\ndays: 365\n")
    before = (tree / "config.yaml").read_text()
    code = main(["calibrate", str(out), "write=true"])
    err = capsys.readouterr().err
    assert (tree / "config.yaml").read_text() == before, "wrote outside configs/scenario/"
    assert code == 2 and "scenario" in err and "\n" not in err.strip()
