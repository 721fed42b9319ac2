"""Scenario discovery (gapsim discover): PRIM finds a planted box; bad input gets one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from sim import api
from sim.cli import main
from sim.experiments.discover import Limit, choose, phrase


def planted_sweep(root: Path, n_points: int = 150, replicates: int = 2, seed: int = 3,
                  flip: float = 0.0) -> Path:
    """A sweep directory whose incidents exceed 20 per quarter exactly when the gap is wider than
    3.2 km and coordination is below 2 (jcc), with replicate noise that never crosses the line
    (except in a share ``flip`` of the runs, which land on the other side); the other factors (a
    model parameter, a categorical one) change nothing."""
    rng = np.random.default_rng(seed)
    points = pd.DataFrame({
        "gap_width_km": rng.uniform(0, 10, n_points),
        "coordination": rng.uniform(0, 4, n_points),
        "detect_rate_per_h": rng.uniform(0.2, 2.0, n_points),
        "posture": rng.choice(["ridge", "plain", "both"], n_points),
    })  # fmt: skip
    inside = (points["gap_width_km"] > 3.2) & (points["coordination"] < 2.0)
    rows = []
    for p, row in points.iterrows():
        for r in range(replicates):
            high = bool(inside[p]) != bool(rng.uniform() < flip)
            per_quarter = (30.0 if high else 10.0) + rng.uniform(-5, 5)
            rows.append({"scenario": "status_quo_2019", "design_point": p, **row.to_dict(),
                         "replicate": r, "run_id": f"{p:04d}{r}",
                         "incidents": int(round(per_quarter * 4)), "gap_control": rng.uniform()})
    out = root / "sweep"
    out.mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(out / "sweep.parquet", index=False)
    (out / "base_config.yaml").write_text(yaml.safe_dump({"days": 365}))
    (out / "study.yaml").write_text(yaml.safe_dump({"factors": {
        "gap_width_km": {}, "coordination": {},
        "model.detect_rate_per_h": {"name": "detect_rate_per_h"}, "posture": {}}}))
    return out


def test_discover_finds_the_planted_box_and_says_it(tmp_path, capsys) -> None:
    sweep = planted_sweep(tmp_path)
    args = ["discover", str(sweep), "outcome=incidents", "threshold=20", "per=quarter"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    out = sweep / "discovery" / "incidents_above_20_per_quarter"
    for name in ("discovery.png", "discovery.svg", "boxes.csv", "trajectory.csv",
                 "discovery.json"):
        assert (out / name).stat().st_size > 0, name
    boxes = pd.read_csv(out / "boxes.csv")
    limits = boxes.set_index("factor")
    assert set(limits.index) == {"gap_width_km", "coordination"}, "no spurious restriction"
    # PRIM peels 5% quantiles: the limits land within a peel of the planted 3.2 km and 2 (jcc)
    assert 2.7 <= limits.loc["gap_width_km", "low"] <= 3.7 and np.isnan(limits.loc["gap_width_km", "high"])
    assert 1.6 <= limits.loc["coordination", "high"] <= 2.4 and np.isnan(limits.loc["coordination", "low"])
    assert (limits[["qp_low", "qp_high"]].min(axis=1) < 1e-6).all(), "both limits are significant"
    record = json.loads((out / "discovery.json").read_text())
    box = record["boxes"][0]
    assert box["coverage"] >= 0.85 and box["density"] >= 0.9 and box["significant"]
    line = record["lines"][0]
    assert line.startswith("incidents exceed 20 per quarter when ")
    assert "the gap is wider than" in line and "coordination is below" in line
    assert f"coverage {box['coverage']:.0%}, density {box['density']:.0%}" in line
    assert line in printed and str(out) in printed
    trajectory = pd.read_csv(out / "trajectory.csv")
    assert trajectory["chosen"].sum() == 1 and trajectory["coverage"].iloc[0] == 1.0


def test_api_discover_on_design_point_means_and_below(tmp_path) -> None:
    sweep = planted_sweep(tmp_path)
    found = api.discover(sweep, "incidents", "p50", direction="below", on="points",
                         resamples=0, verbose=False)  # fmt: skip
    assert found.on == "points" and found.cases == 150
    assert found.threshold == pytest.approx(np.percentile(
        pd.read_parquet(sweep / "sweep.parquet").groupby("design_point")["incidents"].mean(), 50))
    assert found.boxes and found.condition().startswith("mean incidents stay below ")
    assert found.condition().endswith(" in 365 days (the 50th percentile)")
    assert (sweep / "discovery" / "incidents_below_p50_points" / "discovery.png").is_file()


@pytest.mark.parametrize(("args", "needle"), [
    ([], "give one sweep directory"),
    (["{root}/nowhere", "outcome=incidents", "threshold=1"], "no such directory"),
    (["{root}/run", "outcome=incidents", "threshold=1"], "not a finished sweep"),
    (["{sweep}", "outcome=incidnets", "threshold=20"], "did you mean incidents?"),
    (["{sweep}", "threshold=20"], "name the outcome"),
    (["{sweep}", "outcome=incidents"], "give the threshold"),
    (["{sweep}", "outcome=incidents", "threshold=many"], "must be a number"),
    (["{sweep}", "outcome=incidents", "threshold=5000"], "no case has incidents above 5000"),
    (["{sweep}", "outcome=incidents", "threshold=-1"], "every case has incidents above -1"),
    (["{sweep}", "outcome=incidents", "threshold=20", "direction=up"], "above, below"),
    (["{sweep}", "outcome=incidents", "threshold=20", "per=fortnight"], "quarter"),
    (["{sweep}", "outcome=incidents", "threshold=20", "treshold=3"], "did you mean threshold?"),
    (["{sweep}", "outcome=incidents", "threshold=20", "boxes=0"], "whole number from 1"),
])  # fmt: skip
def test_bad_input_gets_one_line_and_exit_2(args, needle, tmp_path, capsys) -> None:
    sweep = planted_sweep(tmp_path)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text("days: 30\n")
    filled = [a.format(root=tmp_path, sweep=sweep) for a in args]
    assert main(["discover", *filled]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gapsim: error: ") and needle in err, err
    assert not (sweep / "discovery").exists(), "nothing is written for a bad request"


def test_simplifying_drops_the_insignificant_limits_of_a_dense_box(tmp_path) -> None:
    sweep = planted_sweep(tmp_path, n_points=200, flip=0.1)  # noise makes PRIM over-peel
    common = {"per": "quarter", "resamples": 0, "verbose": False}
    first = api.discover(sweep, "incidents", 20, out=tmp_path / "a", **common)
    peeled = first.boxes[0].trajectory
    last = int(peeled.loc[peeled["from_id"].isna(), "id"].max())  # PRIM's densest, last peel
    raw = api.discover(sweep, "incidents", 20, box=last, simplify=False, out=tmp_path / "b",
                       **common)  # fmt: skip
    simple = api.discover(sweep, "incidents", 20, box=last, out=tmp_path / "c", **common)
    raw_factors = {lim.factor for lim in raw.boxes[0].limits}
    kept = {lim.factor for lim in simple.boxes[0].limits}
    assert kept == {"gap_width_km", "coordination"} and kept < raw_factors
    assert {d.split()[0] for d in simple.boxes[0].dropped} >= raw_factors - kept
    gap = next(lim for lim in simple.boxes[0].limits if lim.factor == "gap_width_km")
    assert gap.high is None and gap.low >= 2.7, "only the insignificant side is dropped"
    assert all(lim.qp <= 0.05 for lim in simple.boxes[0].limits) and simple.boxes[0].significant
    assert not raw.boxes[0].significant


def test_the_box_rule_balances_coverage_and_density_among_significant_boxes() -> None:
    t = pd.DataFrame({
        "id": [0, 1, 2, 3, 4],
        "coverage": [1.0, 0.9, 0.8, 0.6, 0.3],
        "density": [0.2, 0.5, 0.8, 0.95, 1.0],
        "res_dim": [0, 1, 2, 3, 3],
        "max_qp": [np.nan, 1e-6, 1e-4, 0.2, 1e-3],
    })  # fmt: skip
    # harmonic means of coverage and density: 0.64, 0.80, 0.74 (not significant), 0.46
    assert choose(t, min_coverage=0.5, alpha=0.05) == (2, True, "")
    assert choose(t, min_coverage=0.25, alpha=0.05)[0] == 2, "not the densest (4): too little coverage"
    chosen, significant, note = choose(t, min_coverage=0.5, alpha=1e-7)
    assert chosen == 1 and not significant and "weakest limit" in note
    assert choose(t, min_coverage=0.85, alpha=0.05)[0] == 1
    assert choose(t, min_coverage=0.85, alpha=0.05, share_left=0.9)[0] == 2  # coverage of what is left
    chosen, _, note = choose(t, min_coverage=0.95, alpha=0.05)
    assert chosen == 1 and "largest coverage" in note


def test_limits_in_words() -> None:
    assert phrase(Limit("gap_width_km", low=3.21)) == "the gap is wider than 3.21 km"
    assert phrase(Limit("gap_width_km", low=1, high=4.5)) == "the gap is 1-4.5 km wide"
    assert phrase(Limit("coordination", high=2.03)) == "coordination is below jcc"
    assert phrase(Limit("coordination", low=2.5)) == "coordination is above 2.5 (between jcc and joint_ops)"
    assert phrase(Limit("detect_rate_per_h", high=0.8), unit="1/h") == "detect_rate_per_h is below 0.8 1/h"
    assert phrase(Limit("posture", levels=("both", "ridge")), kind="categorical") == "posture is both or ridge"


def test_the_shipped_discovery_study_varies_gap_coordination_and_est_parameters() -> None:
    from dataclasses import fields

    from sim.experiments.study import load_study, plan_study
    from sim.model.params import ModelParams

    plan = plan_study(load_study("discovery_gap_coordination"))
    keys = [f.key for f in plan.study.factors]
    assert keys[:2] == ["gap_width_km", "coordination"]
    sources = {f.name: f.metadata["source"] for f in fields(ModelParams)}
    model_keys = [k.split(".", 1)[1] for k in keys if k.startswith("model.")]
    assert len(model_keys) >= 12
    assert all("[EST]" in sources[k] for k in model_keys), "the uncertain parameters are [EST] ones"
    assert plan.info["type"] == "nolh" and plan.info["max_abs_corr"] <= 0.02
    assert len(plan.design) == 129


@pytest.mark.slow
def test_discover_on_the_shipped_study_writes_its_figure_and_boxes(tmp_path, capsys) -> None:
    # budget: about a minute on 2 idle cores: the shipped study's factors in a 33-run NOLH,
    # two replicates of 20 days each on the coarse terrain, then PRIM
    out = tmp_path / "study"
    assert main(["sweep", "experiment=discovery_gap_coordination", "design_size=33",
                 "replicates=2", "days=20", "terrain=qarachogh_coarse", f"hydra.run.dir={out}"]) == 0
    capsys.readouterr()
    assert main(["discover", str(out), "outcome=incidents", "threshold=p50"]) == 0
    printed = capsys.readouterr().out
    result = out / "discovery" / "incidents_above_p50"
    assert (result / "discovery.png").stat().st_size > 10_000
    boxes = pd.read_csv(result / "boxes.csv")
    assert len(boxes) >= 1 and set(boxes["factor"]) <= set(pd.read_parquet(out / "sweep.parquet"))
    assert "incidents exceed " in printed and "coverage" in printed
