"""Figures of the calibration: the posterior predictive check and the posterior marginals.

Why pictures: "does the calibrated model reproduce 2020?" is answered at a glance by each target's
observed value and error bar against the band the posterior predicts, and "what did the data
teach us?" by each parameter's posterior against its prior range.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_predictive(samples: pd.DataFrame, table: pd.DataFrame, path: Path) -> Path:
    """One panel per target: the simulated statistic per posterior draw (dots and box), the
    predictive 90 % band including the observation error (bar), and the observed value with
    its own 90 % error band (red)."""
    n = len(table)
    cols = min(4, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False,
                             constrained_layout=True)
    for ax, (_, r) in zip(axes.flat, table.iterrows(), strict=False):
        sim = samples[r["target"]].to_numpy(dtype=float)
        sim = sim[np.isfinite(sim)]
        jitter = np.random.default_rng(0).uniform(-0.12, 0.12, len(sim))
        ax.plot(np.zeros(len(sim)) + jitter, sim, ".", color="0.4", ms=4, alpha=0.7)
        if len(sim):
            ax.boxplot(sim, positions=[0.45], widths=0.2, showfliers=False)
        ax.plot([0.8, 0.8], [r["pred_low"], r["pred_high"]], color="C0", lw=4, alpha=0.6,
                label="predictive 90% (with obs. error)")
        ax.errorbar([1.1], [r["observed"]], yerr=[[1.645 * r["sd"]], [1.645 * r["sd"]]],
                    fmt="o", color="C3", capsize=4, label="observed, 90% error")
        ax.set_xlim(-0.4, 1.4)
        ax.set_xticks([])
        ax.set_title(f"{r['label']}\n{'covered' if r['covered'] else 'NOT covered'}", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=6, loc="best")
    fig.suptitle("Posterior predictive check against the 2020 targets", fontsize=10)
    return _save(fig, path)


def plot_marginals(frame: pd.DataFrame, keys: Sequence[str], bounds: dict[str, tuple[float, float]],
                   path: Path) -> Path:
    """Weighted posterior histogram of each informed parameter over its prior range."""
    n = len(keys)
    cols = min(5, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.0 * rows), squeeze=False,
                             constrained_layout=True)
    w = frame["weight"].to_numpy(dtype=float)
    for ax, key in zip(axes.flat, keys, strict=False):
        lo, hi = bounds[key]
        ax.hist(frame[key].to_numpy(dtype=float), bins=12, range=(lo, hi), weights=w,
                density=True, color="C0", alpha=0.7)
        ax.axhline(1.0 / (hi - lo) if hi > lo else 0, color="0.3", lw=1, ls="--")
        ax.set_title(key.removeprefix("model."), fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle("Posterior marginals (bars) against a flat prior over the range (dashed)",
                 fontsize=9)
    return _save(fig, path)
