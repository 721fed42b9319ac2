"""Figures of a sweep: heatmaps and lines over a factorial, Sobol and Morris indices, effects.

Why these: a workshop asks "how do incidents change with gap width at each coordination level,
and how sure are we?" (heatmaps that print mean and 95% half-width, and lines with 95% bands),
and a researcher asks "which uncertain parameters matter?" (Sobol first- and total-order indices
with bootstrap intervals, Morris mu*-sigma, regression effects of a data-farming design). Every
function reads tidy tables only (the per-point summary or an indices table), draws on a fresh
figure, labels axes with units and saves PNG and SVG side by side.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

#: Units of outcomes that are not counts of events per replicate.
OUTCOME_UNITS: dict[str, str] = {
    "gap_control": "share of days the gap is controlled, 0-1",
    "tips_reaching_share": "share of tips reaching the acting force, 0-1",
    "incident_density_ratio_gap": "incidents per km² in the gap / elsewhere",
    "kills_per_strike": "fighters killed per strike",
    "fighters_final": "fighters at the end",
    "fighters_mean": "fighters, daily mean",
    "fighters_max": "fighters, maximum",
    "cells_final": "cells at the end",
    "daylight_move_share": "share of moves in daylight, 0-1",
    "hostages": "persons per replicate",
    "casualties_security": "persons per replicate",
    "casualties_civilian": "persons per replicate",
    "informant_links_pesh": "links at the end",
    "informant_links_ia": "links at the end",
    "informant_links_pmf": "links at the end",
}

#: Labels of headline factors (others: the config key and its unit from ModelParams).
FACTOR_LABELS: dict[str, str] = {
    "gap_width_km": "gap width (km)",
    "coordination": "coordination level (0 none … 4 joint brigades)",
    "realisation": "realisation (random-seed index)",
    "days": "simulated days",
}

SAVE_DPI = 130


def outcome_label(outcome: str, days: int | None = None) -> str:
    """``outcome (unit)``: counts are per replicate of ``days`` simulated days."""
    if outcome in OUTCOME_UNITS:
        unit = OUTCOME_UNITS[outcome]
    elif outcome.startswith("trust_"):
        unit = "mean trust at the end, 0-1"
    else:
        unit = "count per replicate"
    if days and ("per replicate" in unit):
        unit += f" of {days} d"
    return f"{outcome} ({unit})"


def factor_label(name: str, key: str | None = None, kind: str = "continuous") -> str:
    """Axis label of a factor: its name and unit (from ``ModelParams`` metadata)."""
    if name in FACTOR_LABELS:
        return FACTOR_LABELS[name]
    if key in FACTOR_LABELS:
        return FACTOR_LABELS[key]
    if kind == "dummy":
        return f"{name} (dummy: changes nothing)"
    if key and key.startswith("model."):
        from dataclasses import fields

        from sim.model.params import ModelParams

        meta = {f.name: f.metadata for f in fields(ModelParams)}.get(key.split(".", 1)[1])
        if meta:
            unit = meta["unit"] if meta["unit"] != "-" else "dimensionless"
            return f"{name} ({unit})"
    return name


def save(fig: plt.Figure, path: Path) -> list[Path]:
    """Write ``path`` (PNG) and its SVG twin; close the figure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=SAVE_DPI, bbox_inches="tight")
    svg = path.with_suffix(".svg")
    fig.savefig(svg, bbox_inches="tight")
    plt.close(fig)
    return [path, svg]


def _grid(n: int, ncols: int = 3, size: tuple[float, float] = (4.6, 3.6)):
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False
    )
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def _ordered(values: Sequence, order: Sequence | None) -> list:
    present = list(dict.fromkeys(values))
    if order:
        return [v for v in order if v in present] + [v for v in present if v not in order]
    try:
        return sorted(present)
    except TypeError:
        return present


def _fmt(x: float) -> str:
    if not np.isfinite(x):
        return "n/a"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.3g}"


# ------------------------------------------------------------------------------------- factorial


def plot_heatmap(
    summary: pd.DataFrame,
    outcome: str,
    x: str,
    y: str,
    path: Path,
    *,
    x_label: str,
    y_label: str,
    y_order: Sequence | None = None,
    days: int | None = None,
    title: str | None = None,
) -> list[Path]:
    """Two panels over ``x`` x ``y``: the mean (cells print mean ± 95% half-width) and the
    half-width itself, so the precision of every cell is visible."""
    sub = summary[summary["outcome"] == outcome]
    xs = _ordered(sub[x].tolist(), None)
    ys = _ordered(sub[y].tolist(), y_order)
    mean = sub.pivot_table(index=y, columns=x, values="mean", aggfunc="first").reindex(
        index=ys, columns=xs
    )
    half = sub.pivot_table(index=y, columns=x, values="half_width", aggfunc="first").reindex(
        index=ys, columns=xs
    )
    n = int(sub["n"].min()) if len(sub) else 0
    fig, (ax1, ax2) = plt.subplots(
        1, 2, figsize=(max(9.0, 1.25 * len(xs) * 2 + 3), 0.7 * len(ys) + 2.6)
    )
    label = outcome_label(outcome, days)
    panels = ((ax1, mean, "viridis", f"mean: {label}"),
              (ax2, half, "magma_r", "95% CI half-width (same unit)"))  # fmt: skip
    for ax, data, cmap, cbar in panels:
        values = data.to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        vmin, vmax = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
        im = ax.imshow(values, cmap=cmap, aspect="auto", origin="lower",
                       vmin=vmin, vmax=vmax if vmax > vmin else vmin + 1)  # fmt: skip
        ax.set_xticks(range(len(xs)), [_fmt(v) if isinstance(v, float) else str(v) for v in xs])
        ax.set_yticks(range(len(ys)), [str(v) for v in ys])
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        cb = fig.colorbar(im, ax=ax, shrink=0.9)
        cb.set_label(cbar, fontsize=8)
        mid = (vmin + vmax) / 2
        for i in range(len(ys)):
            for j in range(len(xs)):
                m, h, v = mean.iat[i, j], half.iat[i, j], values[i, j]
                text = f"{_fmt(m)}\n±{_fmt(h)}" if ax is ax1 else _fmt(h)
                dark = cmap == "viridis" and np.isfinite(v) and v < mid
                dark |= cmap == "magma_r" and np.isfinite(v) and v > mid
                ax.text(j, i, text, ha="center", va="center", fontsize=7,
                        color="white" if dark else "black")  # fmt: skip
    ax1.set_title("mean ± 95% CI half-width", fontsize=10)
    ax2.set_title("95% CI half-width", fontsize=10)
    fig.suptitle(title or f"{outcome} over {x} and {y} ({n} replicates per cell)", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return save(fig, path)


def plot_lines(
    summary: pd.DataFrame,
    outcomes: Sequence[str],
    x: str,
    by: str,
    path: Path,
    *,
    x_label: str,
    by_label: str,
    by_order: Sequence | None = None,
    days: int | None = None,
) -> list[Path]:
    """One panel per outcome: mean against ``x``, one line per level of ``by``, 95% bands."""
    fig, axes = _grid(len(outcomes))
    levels = _ordered(summary[by].tolist(), by_order)
    colors = plt.cm.viridis(np.linspace(0.0, 0.9, max(len(levels), 1)))
    for ax, outcome in zip(axes, outcomes, strict=True):
        sub = summary[summary["outcome"] == outcome]
        for color, level in zip(colors, levels, strict=True):
            rows = sub[sub[by] == level].sort_values(x)
            xv = rows[x].to_numpy(dtype=float)
            ax.plot(xv, rows["mean"], marker="o", ms=3, color=color, label=str(level))
            lo, hi = rows["ci_low"].to_numpy(float), rows["ci_high"].to_numpy(float)
            if np.isfinite(lo).any():
                ax.fill_between(xv, lo, hi, color=color, alpha=0.18, linewidth=0)
        ax.set_xlabel(x_label)
        ax.set_ylabel(outcome_label(outcome, days), fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].legend(title=by_label, fontsize=7, title_fontsize=7)
    n = int(summary["n"].min()) if len(summary) else 0
    fig.suptitle(f"Outcomes against {x_label} per {by} (mean and 95% band, {n} replicates)",
                 fontsize=11)  # fmt: skip
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return save(fig, path)


# ------------------------------------------------------------------------------------ sensitivity


def plot_sobol(
    indices: pd.DataFrame, path: Path, *, labels: Mapping[str, str] | None = None
) -> list[Path]:
    """One panel per outcome: first-order (S1) and total-order (ST) Sobol indices per factor,
    with their 95% bootstrap intervals, factors sorted by ST."""
    outcomes = list(dict.fromkeys(indices["outcome"]))
    fig, axes = _grid(len(outcomes), ncols=2, size=(5.6, 0.42 * indices["factor"].nunique() + 1.8))
    for ax, outcome in zip(axes, outcomes, strict=True):
        sub = indices[indices["outcome"] == outcome]
        if sub["ST"].isna().all():
            ax.text(0.5, 0.5, f"{outcome}: {sub['note'].iloc[0]}", ha="center", va="center",
                    transform=ax.transAxes, fontsize=8, wrap=True)  # fmt: skip
            ax.set_axis_off()
            continue
        sub = sub.sort_values("ST", ascending=True)
        pos = np.arange(len(sub))
        names = [(labels or {}).get(f, f) for f in sub["factor"]]
        ax.barh(pos + 0.2, sub["S1"], 0.38, xerr=sub["S1_conf"], color="#4c72b0",
                label="first order S1", capsize=2)  # fmt: skip
        ax.barh(pos - 0.2, sub["ST"], 0.38, xerr=sub["ST_conf"], color="#dd8452",
                label="total order ST", capsize=2)  # fmt: skip
        ax.set_yticks(pos, names, fontsize=7)
        ax.axvline(0, color="black", lw=0.6)
        ax.set_xlabel("Sobol index (share of output variance; bars: 95% CI)", fontsize=8)
        ax.set_title(outcome, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    axes[0].legend(fontsize=7, loc="lower right")
    fig.suptitle("Sobol sensitivity indices", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return save(fig, path)


def plot_morris(
    indices: pd.DataFrame,
    path: Path,
    *,
    labels: Mapping[str, str] | None = None,
    days: int | None = None,
) -> list[Path]:
    """One panel per outcome: Morris mu* (mean |elementary effect|, with 95% interval) against
    sigma (their s.d.); the dashed line sigma = mu* separates mostly linear/additive effects
    (below) from non-linear or interacting ones (above)."""
    outcomes = list(dict.fromkeys(indices["outcome"]))
    fig, axes = _grid(len(outcomes), ncols=2, size=(5.6, 4.4))
    for ax, outcome in zip(axes, outcomes, strict=True):
        sub = indices[indices["outcome"] == outcome]
        if sub["mu_star"].isna().all():
            ax.text(0.5, 0.5, f"{outcome}: {sub['note'].iloc[0]}", ha="center", va="center",
                    transform=ax.transAxes, fontsize=8)  # fmt: skip
            ax.set_axis_off()
            continue
        ax.errorbar(sub["mu_star"], sub["sigma"], xerr=sub["mu_star_conf"], fmt="o", ms=4,
                    color="#4c72b0", ecolor="#9bb0d3", capsize=2)  # fmt: skip
        big = float(np.nanmax([sub["mu_star"].max(), sub["sigma"].max()])) or 1.0
        small = []
        for _, r in sub.iterrows():
            name = str(r["factor"]).rsplit(".", 1)[-1]
            if max(r["mu_star"], r["sigma"]) < 0.06 * big:
                small.append(name)
                continue
            ax.annotate(name, (r["mu_star"], r["sigma"]), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")  # fmt: skip
        reach = (sub["mu_star"] + sub["mu_star_conf"].fillna(0)).max()
        x_top = float(reach) * 1.08 or 1.0
        y_top = float(sub["sigma"].max()) * 1.15 or 1.0
        diag = min(x_top, y_top)
        ax.plot([0, diag], [0, diag], ls="--", color="grey", lw=0.8)
        ax.set_xlim(0, x_top)
        ax.set_ylim(0, y_top)
        unit = outcome_label(outcome, days).split(" (", 1)[-1].rstrip(")")
        ax.set_xlabel(f"mu* (mean |effect| of moving across the range; {unit})", fontsize=7.5)
        ax.set_ylabel("sigma (s.d. of elementary effects, same unit)", fontsize=7.5)
        note = "\n".join(textwrap.wrap("near 0: " + ", ".join(small), 80)) if small else ""
        ax.set_title(outcome + (f"\n{note}" if note else ""), fontsize=10 if not note else 8)
        ax.grid(alpha=0.3)
    fig.suptitle("Morris screening: mu* against sigma", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return save(fig, path)


def plot_effects(
    effects: pd.DataFrame, path: Path, *, labels: Mapping[str, str] | None = None
) -> list[Path]:
    """One panel per outcome: standardised regression coefficients with 95% intervals."""
    outcomes = list(dict.fromkeys(effects["outcome"]))
    n_f = effects["factor"].nunique()
    fig, axes = _grid(len(outcomes), ncols=2, size=(5.4, 0.38 * n_f + 1.8))
    for ax, outcome in zip(axes, outcomes, strict=True):
        sub = effects[effects["outcome"] == outcome]
        if sub["src"].isna().all():
            ax.text(0.5, 0.5, f"{outcome}: {sub['note'].iloc[0]}", ha="center", va="center",
                    transform=ax.transAxes, fontsize=8)  # fmt: skip
            ax.set_axis_off()
            continue
        sub = sub.assign(size=sub["src"].abs()).sort_values("size")
        pos = np.arange(len(sub))
        err = np.vstack([sub["src"] - sub["ci_low"], sub["ci_high"] - sub["src"]])
        colors = ["#c44e52" if v > 0 else "#4c72b0" for v in sub["src"]]
        ax.barh(pos, sub["src"], xerr=err, color=colors, capsize=2)
        ax.set_yticks(pos, [(labels or {}).get(f, f) for f in sub["factor"]], fontsize=7)
        ax.axvline(0, color="black", lw=0.6)
        ax.set_xlabel("standardised regression coefficient (s.d. of outcome per s.d. of factor)",
                      fontsize=7.5)  # fmt: skip
        ax.set_title(f"{outcome} (linear R² = {sub['r2'].iloc[0]:.2f})", fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("Factor effects on design-point means (95% CI)", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return save(fig, path)


def plot_scatter(
    summary: pd.DataFrame,
    outcome: str,
    factors: Sequence[str],
    path: Path,
    *,
    labels: Mapping[str, str] | None = None,
    orders: Mapping[str, Sequence] | None = None,
    days: int | None = None,
) -> list[Path]:
    """One panel per factor: the outcome's design-point means (95% CI bars) against the factor."""
    sub = summary[summary["outcome"] == outcome]
    fig, axes = _grid(len(factors), ncols=4, size=(3.6, 3.0))
    for ax, f in zip(axes, factors, strict=True):
        values = sub[f].tolist()
        if sub[f].dtype == object:
            order = _ordered(values, (orders or {}).get(f))
            xv = np.array([order.index(v) for v in values], dtype=float)
            ax.set_xticks(range(len(order)), [str(v) for v in order], fontsize=6, rotation=30)
        else:
            xv = sub[f].to_numpy(dtype=float)
        yerr = sub["half_width"].to_numpy(dtype=float)
        ax.errorbar(xv, sub["mean"], yerr=np.where(np.isfinite(yerr), yerr, 0.0), fmt="o",
                    ms=3, alpha=0.75, color="#4c72b0", ecolor="#c8d3e6")  # fmt: skip
        ax.set_xlabel((labels or {}).get(f, f), fontsize=7.5)
        ax.grid(alpha=0.3)
    fig.supylabel(outcome_label(outcome, days), fontsize=9)
    fig.suptitle(f"{outcome}: design-point means (95% CI) against each factor", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return save(fig, path)
