"""ABC-SMC calibration: the spec loader, informed vs prior-only table entries, a toy model whose
posterior is known (fast), resume, and (slow) `gapsim calibrate` on the real model."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import yaml

from sim.cli import main
from sim.errors import ConfigError
from sim.model.runner import ReplicateOutput
from sim.validation import abc
from tests.conftest import coarse

TOY = "tests.test_abc:toy_runner"


def toy_runner(config: dict, replicate: int) -> ReplicateOutput:
    """Strikes ~ Poisson(12 x strike_budget_per_month); every other target on its observed
    value. So only strike_budget_per_month is informed, through the strike target."""
    rng = np.random.default_rng([int(config["seed"]) % 2**32, replicate])
    m = config["model"]
    days = config["days"]
    strikes = int(rng.poisson(m["strike_budget_per_month"] * 12 * days / 365))
    per_month = 365.25 / 12 / days
    return ReplicateOutput(run={
        "airstrikes": strikes, "insurgents_killed_air": round(strikes * 56 / 82),
        "fighters_mean": 122.0, "kidnappings": round(1.0 / per_month),
        "fake_checkpoints": round(0.5 / per_month), "ambushes": round(0.4 / per_month),
        "arsons": round(0.3 / per_month), "hostages": 2 * (round(1.0 / per_month)
                                                           + round(0.5 / per_month))})


def test_shipped_calibration_study_is_valid_and_in_range() -> None:
    spec = abc.load_spec("calibration_2020")
    assert spec.scenario == "status_quo_2019" and spec.output == "status_quo_2020"
    assert {t.name for t in spec.targets} >= {"strikes_per_month", "kills_per_strike",
                                              "log_fighters"}
    keys = {u.key for u in spec.parameters}
    assert "model.share_prob[none]" in keys and "model.air_delay_h[joint_brigades]" in keys
    informed, prior_only = abc.split_informed(spec.parameters, coarse(*spec.overrides()[:1]))
    assert all(u.level in (None, 0) for u in informed)
    assert {u.level for u in prior_only} == {1, 2, 3, 4}


def test_active_levels_follow_coordination_and_the_timeline() -> None:
    assert abc.active_levels(coarse()) == {0}
    assert abc.active_levels(coarse("coordination=2.5")) == {2, 3}
    cfg = coarse()
    cfg["scenario"]["timeline"] = [{"date": "2020-06-01", "coordination": "jcc"}]
    assert abc.active_levels(cfg) == {0, 2}


def test_budget_overrides_are_checked() -> None:
    with pytest.raises(ConfigError, match="population"):
        abc.load_spec("calibration_2020", {"population": 0})
    with pytest.raises(ConfigError, match="plain name"):
        abc.load_spec("../calibration_2020")
    assert abc.load_spec("calibration_2020", {"generations": 2}).budget.generations == 2


def test_particle_seeds_depend_on_values_only() -> None:
    a = abc.particle_seed(1, {"x": 0.1, "y": 2.0})
    assert a == abc.particle_seed(1, {"y": 2.0, "x": 0.1}) != abc.particle_seed(1, {"x": 0.2, "y": 2.0})


@pytest.fixture
def toy_spec(tmp_path, monkeypatch):
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump({
        "scenario": "status_quo_2019", "base": {"days": 365}, "replicates": 1, "output": "toy",
        "targets": ["strikes_per_month", "kills_per_strike", "log_fighters"],
        "abc": {"population": 40, "generations": 3, "max_simulations": 3000, "seed": 5,
                "predictive": 10},
        "parameters": {"model.strike_budget_per_month": {"range": [1, 20]},
                       "model.share_prob[jcc]": {"range": [0.5, 0.9]}}}))
    monkeypatch.setattr(abc, "SPEC_DIR", tmp_path)
    return abc.load_spec("toy")


def test_toy_posterior_concentrates_on_the_truth_and_resumes(toy_spec, tmp_path) -> None:
    """Strikes/month observed 6.31 with s.d. 1.2 (+ Poisson noise of a year's count): the exact
    posterior of the budget is roughly N(6.3, 1.3); the prior is U(1, 20) (mean 10.5, s.d. 5.5).
    Tolerances: posterior mean within 1.5 of 6.3 and s.d. below 2.5 (population 40, 3
    generations; a failure would mean the acceptor is not conditioning on the target)."""
    import dataclasses

    base = coarse(*toy_spec.overrides())
    out = tmp_path / "abc"
    # Interrupted by its budget before temperature 1, then resumed from the SQLite history.
    cut = dataclasses.replace(toy_spec, budget=dataclasses.replace(toy_spec.budget,
                                                                   max_simulations=50))
    first = abc.run_abc(cut, base, out, progress=False, runner=TOY)
    assert not first.exact and first.temperature > 1
    res = abc.run_abc(toy_spec, base, out, progress=False, runner=TOY)
    assert res.generations > first.generations and res.simulations > first.simulations
    assert res.exact, res.temperature
    j = res.keys.index("model.strike_budget_per_month")
    w = res.weights / res.weights.sum()
    mean = float(np.sum(w * res.values[:, j]))
    sd = math.sqrt(float(np.sum(w * (res.values[:, j] - mean) ** 2)))
    assert abs(mean - 82 / 13) < 1.5 and sd < 2.5, (mean, sd)
    assert res.prior_only == ["model.share_prob[jcc]"]
    k = res.keys.index("model.share_prob[jcc]")
    assert res.values[:, k].min() >= 0.5 and res.values[:, k].max() <= 0.9
    samples = abc.predictive(toy_spec, base, res, 10, runner=TOY)
    assert len(samples) == 10 and samples["strikes_per_month"].between(0, 30).all()
    other = dataclasses.replace(toy_spec, sha256="0" * 64)
    with pytest.raises(ConfigError, match="another study"):
        abc.run_abc(other, base, out, progress=False, runner=TOY)


@pytest.mark.slow
def test_gapsim_calibrate_small_budget_end_to_end(tmp_path, capsys, monkeypatch) -> None:
    """Budget: about 30 thirty-day simulations of the real model, 1-3 minutes on 2 cores."""
    out = tmp_path / "cal"
    code = main(["calibrate", "population=4", "generations=1", "predictive=2", "days=30",
                 "workers=1", "progress=false", f"hydra.run.dir={out}"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    post = yaml.safe_load((out / "posterior.yaml").read_text())
    assert post["format"] == "gapsim-posterior/1" and len(post["particles"]["values"]) == 4
    assert post["study"]["file"] == "experiments/validation/calibration_2020.yaml"
    assert set(post["predictive"]["targets"]) == set(post["targets"])
    assert (out / "figures" / "posterior_predictive.png").is_file()
    assert len(pd.read_csv(out / "predictive.csv")) == len(post["targets"])


@pytest.mark.parametrize(
    ("args", "needle"),
    [(["population=0"], "population"),
     (["study=../calibration_2020"], "plain name"),
     (["study=nope"], "no experiments/validation/nope.yaml"),
     (["write=maybe"], "true or false"),
     (["gap_width_km=99"], "gap_width_km"),
     (["hydra.sweep.dir=/tmp/x"], "hydra.run.dir= only"),
     (["workers=-1"], "workers")],
)
def test_calibrate_bad_requests_fail_in_one_line_before_any_work(args, needle, tmp_path,
                                                                 capsys) -> None:
    out = tmp_path / "cal"
    assert main(["calibrate", *args, f"hydra.run.dir={out}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gapsim: error:") and needle in err and "\n" not in err, err
    assert not out.exists()


def test_a_degenerate_population_is_one_line_not_a_traceback(toy_spec, tmp_path, monkeypatch) -> None:
    """pyabc's own assertion on NaN weights (seen on model version 3: population 50 for 47
    parameters, ESS 1.1-1.6) becomes a RunError naming the history and the fix; other assertion
    errors are not swallowed."""
    import pyabc

    from sim.errors import RunError

    base = coarse(*toy_spec.overrides())

    def degenerate(self, *args, **kwargs):
        raise AssertionError("The population total weight nan is not normalized.")

    monkeypatch.setattr(pyabc.ABCSMC, "run", degenerate)
    with pytest.raises(RunError, match="degenerated.*larger population=") as err:
        abc.run_abc(toy_spec, base, tmp_path / "abc", progress=False, runner=TOY)
    assert err.value.exit_code == 2 and "\n" not in str(err.value)

    def other(self, *args, **kwargs):
        raise AssertionError("something else")

    monkeypatch.setattr(pyabc.ABCSMC, "run", other)
    with pytest.raises(AssertionError, match="something else"):
        abc.run_abc(toy_spec, base, tmp_path / "abc", progress=False, runner=TOY)
