"""Figure of the validation suite: each pattern's statistic with its interval, green if held."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def plot_validation(table: pd.DataFrame, path: str | Path | None = None):
    n = len(table)
    cols = 3
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(13, 2.1 * rows), constrained_layout=True)
    for ax, (_, r) in zip(axes.flat, table.iterrows(), strict=False):
        color = "tab:green" if r["held"] else "tab:red"
        lo = r["low"] if np.isfinite(r["low"]) else r["value"]
        hi = r["high"] if np.isfinite(r["high"]) else r["value"]
        ax.plot([lo, hi], [0, 0], color=color, lw=3)
        ax.plot(r["value"], 0, "o", color=color, ms=8)
        ax.set_yticks([])
        ax.set_title(f"{r['pattern']}\n{r['statistic']}", fontsize=8)
        ax.set_xlabel(f"criterion: {r['criterion']}", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.grid(axis="x", alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle("gapsim validation: statistic and 95% interval across replicates "
                 "(green: pattern held)", fontsize=11)
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
        fig.savefig(path.with_suffix(".svg"))
        plt.close(fig)
    return fig
