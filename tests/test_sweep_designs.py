"""Design properties: counts, bounds, Latin hypercube strata, NOLH near-orthogonality, factor maps."""

from __future__ import annotations

import numpy as np
import pytest

from sim.experiments import designs
from sim.experiments.study import Factor, build_design, load_study, plan_study


def test_full_factorial_counts_and_order() -> None:
    idx = designs.full_factorial([3, 2])
    assert idx.shape == (6, 2)
    assert idx.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1], [2, 0], [2, 1]]  # first factor slowest
    assert len({tuple(r) for r in idx}) == 6


@pytest.mark.parametrize(("n", "d"), [(10, 3), (37, 6)])
def test_latin_hypercube_bounds_and_strata(n: int, d: int) -> None:
    x = designs.latin_hypercube(n, d, seed=3)
    assert x.shape == (n, d)
    assert (x >= 0).all() and (x < 1).all()
    for j in range(d):  # exactly one point in each of the n strata, per column
        assert sorted(np.floor(x[:, j] * n).astype(int)) == list(range(n))
    assert np.array_equal(x, designs.latin_hypercube(n, d, seed=3))  # seeded
    assert not np.array_equal(x, designs.latin_hypercube(n, d, seed=4))


@pytest.mark.parametrize("m", [3, 4, 5, 6])
def test_ye_olh_is_exactly_orthogonal(m: int) -> None:
    half = designs.ye_olh(m)
    q = 2 ** (m - 1)
    assert half.shape == (q, 2 * m - 2)
    for col in half.T:  # each column a signed permutation of 1..q
        assert sorted(np.abs(col)) == list(range(1, q + 1))
    full = np.vstack([half, np.zeros((1, half.shape[1])), -half])
    assert designs.max_abs_corr(full) < 1e-12


@pytest.mark.parametrize(
    ("d", "n"), [(5, None), (7, None), (11, None), (16, None), (6, 20), (9, 40)]
)
def test_nolh_is_latin_and_nearly_orthogonal(d: int, n: int | None) -> None:
    result = designs.nolh(d, n, seed=11)
    runs = n or designs.nolh_runs(d)
    assert result.unit.shape == (runs, d)
    levels = np.linspace(0.0, 1.0, runs)
    for j in range(d):  # every level exactly once per column, ends included
        assert np.allclose(np.sort(result.unit[:, j]), levels)
    assert designs.max_abs_corr(result.unit) <= 0.05
    assert result.max_abs_corr == pytest.approx(designs.max_abs_corr(result.unit))
    # fold-over: columns are also uncorrelated with squares of other columns
    centred = result.unit - 0.5
    sq = centred**2
    cross = np.corrcoef(np.hstack([centred, sq]), rowvar=False)[:d, d:]
    assert np.nanmax(np.abs(cross)) < 1e-9


def test_nolh_sizes_follow_cioppa_lucas() -> None:
    assert [designs.nolh_runs(d) for d in (2, 7, 8, 11, 12, 16, 22, 29)] == [
        17, 17, 33, 33, 65, 65, 129, 257]  # fmt: skip


def test_shipped_nolh_study_is_nearly_orthogonal() -> None:
    study = load_study("data_farming_nolh")
    design, unit, info = build_design(study, seed=20170)
    assert len(design) == 33 and unit.shape == (33, 11)
    assert info["max_abs_corr"] <= 0.05
    factor_values = design.drop(columns="design_point").to_numpy(dtype=float)
    assert designs.max_abs_corr(factor_values) <= 0.06  # integer rounding of patrols_ia


def test_sobol_and_morris_counts_and_bounds() -> None:
    x = designs.sobol_sample(4, 16, seed=1)
    assert x.shape == (16 * (4 + 2), 4) and (x >= 0).all() and (x <= 1).all()
    assert designs.sobol_sample(4, 8, seed=1, second_order=True).shape == (8 * (2 * 4 + 2), 4)
    m = designs.morris_sample(3, 5, levels=4, seed=1)
    assert m.shape == (5 * (3 + 1), 3)
    assert set(np.round(np.unique(m), 6)) <= {0.0, round(1 / 3, 6), round(2 / 3, 6), 1.0}
    steps = np.abs(np.diff(m.reshape(5, 4, 3), axis=1))
    assert ((steps > 1e-9).sum(axis=2) == 1).all()  # one factor moves per step


def test_factor_maps() -> None:
    cat = Factor("coordination", "coordination", "categorical", levels=("a", "b", "c", "d", "e"))
    shares = [cat.from_unit(u) for u in np.linspace(0, 1, 1000, endpoint=False)]
    assert {lv: shares.count(lv) for lv in "abcde"} == dict.fromkeys("abcde", 200)
    assert cat.from_unit(1.0) == "e"
    integer = Factor("model.n_fighters", "n", "integer", 50.0, 200.0)
    assert integer.from_unit(0.0) == 50 and integer.from_unit(1.0) == 200
    assert isinstance(integer.from_unit(0.3), int)
    log = Factor("model.detect_rate_per_h", "d", "continuous", 0.1, 10.0, scale="log")
    assert log.from_unit(0.5) == pytest.approx(1.0)
    steps = Factor("gap_width_km", "gap_width_km", "continuous", 0.0, 10.0, steps=6)
    assert steps.grid() == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    assert steps.grid(11)[:3] == [0.0, 1.0, 2.0]


def test_gap_vs_coordination_plan() -> None:
    plan = plan_study(load_study("gap_vs_coordination"), ["terrain=qarachogh_coarse"])
    assert len(plan.design) == 30 and len(plan.points) == 30
    assert sorted(plan.design["gap_width_km"].unique()) == [0, 2, 4, 6, 8, 10]
    assert plan.design["coordination"].nunique() == 5
    refined = plan_study(load_study("gap_vs_coordination", design_size=11), [])
    assert len(refined.design) == 55


def test_numeric_coordination_is_written_as_the_config_would_be() -> None:
    plan = plan_study(load_study("data_farming_nolh"), ["terrain=qarachogh_coarse"])
    values = [p.config["coordination"] for p in plan.points]
    assert all(isinstance(v, str) for v in values)
    assert {float(v) for v in values} == set(plan.design["coordination"].astype(float))
    assert all(isinstance(p.config["model"]["patrols_ia"], int) for p in plan.points)
