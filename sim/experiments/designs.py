"""Experimental designs on the unit cube: full factorial, Latin hypercube, NOLH, Sobol, Morris.

Why unit coordinates: every design here returns points in ``[0, 1]^d`` (or, for the factorial, the
level index of each factor), and ``sim.experiments.study`` maps them to factor values (ranges,
integer parameters, categorical levels). So a design never needs to know what a factor means, and
the same design code serves gap widths, detection rates and coordination levels alike.

Nearly orthogonal Latin hypercubes (NOLH), the data-farming workhorse, are built as follows:

* When ``n = 2**m + 1`` and at most ``2m - 2`` factors, the columns are Ye's (1998) orthogonal
  Latin hypercube: exactly zero correlation between every pair of columns, and between a column
  and the squares and pairwise products of others (the fold-over makes the design symmetric).
  The permutation matrices ``A_k`` and sign vectors follow the construction as restated by
  Cioppa and Lucas (2007, Technometrics 49(1):45-55, section 2).
* Otherwise (more factors than Ye's design has columns, or another run count), the columns are
  fold-over signed permutations ``[t; 0; -t]`` (each a Latin hypercube column) chosen by an
  exchange search that minimises max |pairwise correlation|, the criterion of Cioppa and Lucas
  (2007); the search starts from Ye's columns where they exist, and from random columns as well,
  and keeps the best. It reaches max |correlation| of 0.02 or less at the Cioppa-Lucas sizes from
  33 runs up (33 runs x 11 factors, 65 x 16, 129 x 22, 257 x 29) in about a second. The fold-over
  keeps every column orthogonal to every square and pairwise product. Space filling is not
  optimised further (Cioppa and Lucas also trade off a space-filling measure).

References:
    Ye, K. Q. (1998). Orthogonal column Latin hypercubes and their application in computer
    experiments. JASA 93(444):1430-1439.
    Cioppa, T. M., Lucas, T. W. (2007). Efficient nearly orthogonal and space-filling Latin
    hypercubes. Technometrics 49(1):45-55.
    Saltelli, A. et al. (2010). Variance based sensitivity analysis of model output. Computer
    Physics Communications 181:259-270 (the Sobol sampling scheme SALib implements).
    Morris, M. D. (1991). Factorial sampling plans for preliminary computational experiments.
    Technometrics 33(2):161-174; Campolongo, F. et al. (2007) (mu*).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce

import numpy as np

#: Cioppa-Lucas NOLH sizes: (max factors, runs).
NOLH_SIZES: tuple[tuple[int, int], ...] = ((7, 17), (11, 33), (16, 65), (22, 129), (29, 257))

#: The NOLH search stops once max |correlation| is at or below this.
NOLH_TARGET = 0.02


# ----------------------------------------------------------------------------------- factorial


def full_factorial(level_counts: Sequence[int]) -> np.ndarray:
    """Every combination of level indices, the first factor varying slowest.

    Args:
        level_counts: number of levels per factor.

    Returns:
        Integer array of shape ``(prod(level_counts), len(level_counts))``.
    """
    if not level_counts:
        return np.zeros((1, 0), dtype=int)
    grids = itertools.product(*(range(int(c)) for c in level_counts))
    return np.array(list(grids), dtype=int).reshape(-1, len(level_counts))


# --------------------------------------------------------------------------------- Latin hypercube


def latin_hypercube(n: int, d: int, seed: int) -> np.ndarray:
    """A Latin hypercube of ``n`` points in ``[0, 1)^d``, optimised for centred discrepancy.

    Uses ``scipy.stats.qmc.LatinHypercube(d, optimization="random-cd")``: each column has
    exactly one point in each of the ``n`` strata ``[i/n, (i+1)/n)``, and random coordinate swaps
    lower the centred discrepancy (which also lowers column correlations).
    """
    from scipy.stats import qmc

    sampler = qmc.LatinHypercube(d, optimization="random-cd", rng=np.random.default_rng(seed))
    return sampler.random(n)


# ------------------------------------------------------------------------------------------ NOLH


def _kron(mats: Sequence[np.ndarray]) -> np.ndarray:
    return reduce(np.kron, mats)


def ye_olh(m: int) -> np.ndarray:
    """Ye's orthogonal Latin hypercube half-design ``T`` (``2**(m-1)`` rows, ``2m - 2`` columns).

    Each column is a signed permutation of ``1..2**(m-1)``; the full design is
    ``[T; 0; -T]`` with ``2**m + 1`` runs and levels ``-2**(m-1)..2**(m-1)``.
    """
    if m < 2:
        raise ValueError("Ye's construction needs m >= 2")
    q = 2 ** (m - 1)
    ident = np.eye(2, dtype=int)
    rev = np.array([[0, 1], [1, 0]])
    perm = {k: _kron([ident] * (m - 1 - k) + [rev] * k) for k in range(1, m)}
    e = np.arange(1, q + 1)
    cols = [e] + [perm[k] @ e for k in range(1, m)]
    cols += [perm[m - 1] @ perm[j] @ e for j in range(1, m - 1)]
    signs = {}
    for k in range(1, m):
        parts = [np.array([-1, 1]) if i == m - k else np.array([1, 1]) for i in range(1, m)]
        signs[k] = _kron(parts)
    sign_cols = [np.ones(q, dtype=int)] + [signs[k] for k in range(1, m)]
    sign_cols += [signs[1] * signs[j] for j in range(2, m)]
    return np.column_stack(cols) * np.column_stack(sign_cols)


def max_abs_corr(x: np.ndarray) -> float:
    """Largest absolute Pearson correlation between two columns of a design (0 for one column)."""
    x = np.asarray(x, dtype=float)
    if x.shape[1] < 2:
        return 0.0
    c = np.corrcoef(x, rowvar=False)
    np.fill_diagonal(c, 0.0)
    return float(np.nanmax(np.abs(c)))


def _half_levels(n: int) -> np.ndarray:
    """Magnitudes of a fold-over column, doubled to stay integer: odd n: 2, 4, ..; even: 1, 3, .."""
    q = n // 2
    return 2 * np.arange(1, q + 1) if n % 2 else 2 * np.arange(q) + 1


def _signed_perms(levels: np.ndarray, d: int, rng: np.random.Generator) -> np.ndarray:
    q = levels.size
    return np.column_stack(
        [rng.permutation(levels) * rng.choice([-1, 1], q) for _ in range(d)]
    ).astype(np.int64)


def _exchange_search(
    half: np.ndarray,
    free: Sequence[int],
    rng: np.random.Generator,
    target: float,
    max_sweeps: int,
    power: int = 8,
) -> tuple[np.ndarray, float]:
    """Improve the ``free`` columns of a fold-over half-design by swaps and sign flips.

    Each sweep visits the free columns in random order and makes, per column, the single swap of
    two entries or sign flip that most lowers the sum of |correlation|**power with the other
    columns (a smooth stand-in for the maximum); when no move helps, a random kick. Returns the
    best design seen and its max |correlation|.
    """
    half = half.copy()
    q, k = half.shape
    norm = float((half[:, 0].astype(float) ** 2).sum())
    a, b = np.triu_indices(q, 1)

    def worst(t: np.ndarray) -> float:
        g = (t.T @ t).astype(float)
        np.fill_diagonal(g, 0.0)
        return float(np.abs(g).max() / norm) if k > 1 else 0.0

    best, best_half = worst(half), half.copy()
    free = list(free)
    for _ in range(max_sweeps):
        if best <= target or not free:
            break
        improved = False
        for c in rng.permutation(free):
            others = [x for x in range(k) if x != c]
            rest = half[:, others]
            col = half[:, c]
            dots = (col @ rest) / norm
            swaps = dots + (col[b] - col[a])[:, None] * (rest[a] - rest[b]) / norm
            flips = dots - 2 * col[:, None] * rest / norm
            cand = np.vstack([swaps, flips])
            score = (np.abs(cand) ** power).sum(axis=1)
            i = int(score.argmin())
            if score[i] < (np.abs(dots) ** power).sum() * (1 - 1e-12):
                improved = True
                if i < a.size:
                    half[[a[i], b[i]], c] = half[[b[i], a[i]], c]
                else:
                    half[i - a.size, c] *= -1
        now = worst(half)
        if now < best:
            best, best_half = now, half.copy()
        if not improved:
            c = int(rng.choice(free))
            for _ in range(3):
                x, y = rng.choice(q, 2, replace=False)
                half[[x, y], c] = half[[y, x], c]
    return best_half, best


def _sweeps(q: int, d: int, free: int) -> int:
    """Search budget: about the same work whatever the size (small designs get more sweeps)."""
    return int(np.clip(2e6 / (q * q * d * max(free, 1)), 300, 5000))


@dataclass(frozen=True)
class NOLH:
    """A nearly orthogonal Latin hypercube.

    Attributes:
        unit: design in ``[0, 1]^d``, shape ``(n, d)``; column values are the ``n`` equally
            spaced levels ``0, 1/(n-1), ..., 1`` (each exactly once).
        max_abs_corr: largest absolute correlation between two columns.
        method: ``"ye1998"`` (exactly orthogonal) or ``"search"``.
    """

    unit: np.ndarray
    max_abs_corr: float
    method: str


def nolh_runs(d: int) -> int:
    """The Cioppa-Lucas run count for ``d`` factors (beyond 29: the next ``2**m + 1``)."""
    for max_d, runs in NOLH_SIZES:
        if d <= max_d:
            return runs
    m = 9
    while m + (m - 1) * (m - 2) // 2 < d:  # Cioppa's k(m) = m + C(m-1, 2) factors for 2^m+1 runs
        m += 1
    return 2**m + 1


def nolh(d: int, n: int | None = None, seed: int = 0, target: float = NOLH_TARGET) -> NOLH:
    """A nearly orthogonal Latin hypercube with ``d`` factors and ``n`` runs.

    Args:
        d: number of factors.
        n: runs (default: the Cioppa-Lucas size for ``d``, see ``nolh_runs``); at least 3.
        seed: seeds the search, the assignment of columns to factors and the run order.
        target: max |correlation| at which the search may stop.

    Returns:
        The design (unit coordinates) with its achieved max |correlation|.
    """
    n = nolh_runs(d) if n is None else int(n)
    if n < 3:
        raise ValueError("a NOLH needs at least 3 runs")
    rng = np.random.default_rng(seed)
    levels = _half_levels(n)
    q = levels.size
    candidates: list[tuple[float, np.ndarray, str]] = []
    m = int(round(math.log2(n - 1))) if n > 2 else 0
    if n % 2 == 1 and 2**m + 1 == n and m >= 2:
        ye = ye_olh(m) * 2  # same doubled magnitudes as _half_levels
        if d <= ye.shape[1]:
            cols = ye[:, rng.permutation(ye.shape[1])[:d]]
            candidates.append((0.0, cols, "ye1998"))
        else:
            start = np.hstack([ye, _signed_perms(levels, d - ye.shape[1], rng)])
            for free in (range(ye.shape[1], d), range(d)):
                half, corr = _exchange_search(start, free, rng, target, _sweeps(q, d, len(free)))
                candidates.append((corr, half, "search"))
    restarts = 0
    while restarts < 6 and not (candidates and min(c[0] for c in candidates) <= target):
        restarts += 1
        half, corr = _exchange_search(
            _signed_perms(levels, d, rng), range(d), rng, target, _sweeps(q, d, d)
        )
        candidates.append((corr, half, "search"))
    corr, half, method = min(candidates, key=lambda c: c[0])
    signs = rng.choice([-1, 1], d)  # flipping a whole column keeps every property
    half = half * signs
    centre = np.zeros((n % 2, d), dtype=np.int64)
    full = np.vstack([half, centre, -half]).astype(float)
    full = full[rng.permutation(n)]
    span = float(2 * q) if n % 2 else float(2 * q - 1)
    unit = (full + span) / (2 * span)
    return NOLH(unit=unit, max_abs_corr=max_abs_corr(unit), method=method)


# ------------------------------------------------------------------------------ SALib samplers


def _problem(d: int) -> dict:
    return {"num_vars": d, "names": [f"x{i}" for i in range(d)], "bounds": [[0.0, 1.0]] * d}


def sobol_sample(d: int, n: int, seed: int, second_order: bool = False) -> np.ndarray:
    """Saltelli's extension of the scrambled Sobol sequence (SALib), in ``[0, 1]^d``.

    Returns ``n * (d + 2)`` rows (``n * (2d + 2)`` with second-order indices), in the block
    order ``SALib.analyze.sobol`` expects. ``n`` should be a power of 2.
    """
    from SALib.sample import sobol

    return sobol.sample(_problem(d), n, calc_second_order=second_order, scramble=True, seed=seed)


def morris_sample(d: int, trajectories: int, levels: int, seed: int) -> np.ndarray:
    """Morris one-at-a-time trajectories (SALib) on a ``levels``-point grid in ``[0, 1]^d``.

    Returns ``trajectories * (d + 1)`` rows; consecutive rows of a trajectory differ in one
    coordinate by ``levels / (2 (levels - 1))``.
    """
    from SALib.sample import morris

    return morris.sample(_problem(d), trajectories, num_levels=levels, seed=seed)
