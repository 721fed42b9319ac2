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

from sim.analysis.style import slide_style  # noqa: E402
from sim.engine.stats import MIN_RELIABLE_N  # noqa: E402
from sim.outcomes import label as plain_label  # noqa: E402
from sim.outcomes import outcome as outcome_spec  # noqa: E402

#: Labels of headline factors (others: the config key and its unit from ModelParams).
FACTOR_LABELS: dict[str, str] = {
    "gap_width_km": "gap width (km)",
    "coordination": "coordination level (0 none … 4 joint brigades)",
    "realisation": "realisation (random-seed index)",
    "days": "simulated days",
}

SAVE_DPI = 130


def outcome_label(outcome: str, days: int | None = None) -> str:
    """``label (unit)`` from ``sim.outcomes``; counts are per replicate of ``days`` days."""
    spec = outcome_spec(outcome)
    if spec.kind == "count":
        return f"{spec.label} ({spec.unit} per replicate" + (f" of {days} d)" if days else ")")
    return f"{spec.label} ({spec.unit})" if spec.unit else spec.label


def _scale(outcome: str) -> float:
    """Shares are drawn in percent (their unit in the outcome table)."""
    return 100.0 if outcome_spec(outcome).kind == "share" else 1.0


def _unit_label(outcome: str, days: int | None = None) -> str:
    """The unit of an axis: ``people per replicate of 30 d``, ``% of tips``."""
    spec = outcome_spec(outcome)
    if spec.kind == "count":
        return f"{spec.unit} per replicate" + (f" of {days} d" if days else "")
    return spec.unit


def _replicates_note(summary: pd.DataFrame) -> str:
    """``6 replicates per point`` (the most any outcome had), with the reliability caveat."""
    n = int(summary["n"].max()) if len(summary) else 0
    text = f"{n} replicate{'s' if n != 1 else ''} per point"
    if n < MIN_RELIABLE_N:
        text += f"; intervals from fewer than {MIN_RELIABLE_N} are unreliable"
    return text


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


def slide_figure(fn):
    """Draw the whole figure (ticks included) with slide-sized default text."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with slide_style():
            return fn(*args, **kwargs)

    return wrapper


def _grid(n: int, ncols: int = 3, size: tuple[float, float] = (6.0, 4.7)):
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


@slide_figure
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
    """Two panels over ``x`` x ``y``: the mean (cells print the mean and its 95% interval) and
    the interval's width, so the precision of every cell is visible."""
    sub = summary[summary["outcome"] == outcome]
    xs = _ordered(sub[x].tolist(), None)
    ys = _ordered(sub[y].tolist(), y_order)
    scale = _scale(outcome)
    mean = sub.pivot_table(index=y, columns=x, values="mean", aggfunc="first").reindex(
        index=ys, columns=xs
    ) * scale
    low, high = (sub.pivot_table(index=y, columns=x, values=c, aggfunc="first").reindex(
        index=ys, columns=xs) * scale for c in ("ci_low", "ci_high"))  # fmt: skip
    width = high - low
    fig, (ax1, ax2) = plt.subplots(
        1, 2, figsize=(max(12.0, 1.7 * len(xs) * 2 + 4), 0.95 * len(ys) + 3.2)
    )
    label = outcome_label(outcome, days)
    panels = ((ax1, mean, "viridis", f"mean: {label}"),
              (ax2, width, "magma_r", "width of the 95% interval (same unit)"))  # fmt: skip
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
        cb.set_label(cbar, fontsize=12)
        mid = (vmin + vmax) / 2
        for i in range(len(ys)):
            for j in range(len(xs)):
                m, v = mean.iat[i, j], values[i, j]
                lo, hi = low.iat[i, j], high.iat[i, j]
                text = f"{_fmt(m)}\n[{_fmt(lo)}, {_fmt(hi)}]" if ax is ax1 else _fmt(width.iat[i, j])
                dark = cmap == "viridis" and np.isfinite(v) and v < mid
                dark |= cmap == "magma_r" and np.isfinite(v) and v > mid
                ax.text(j, i, text, ha="center", va="center", fontsize=11,
                        color="white" if dark else "black")  # fmt: skip
    ax1.set_title("mean [95% interval]", fontsize=13)
    ax2.set_title("width of the 95% interval", fontsize=13)
    fig.suptitle(title or f"{plain_label(outcome)} by {x_label} and {y_label} "
                 f"({_replicates_note(sub)})",
                 fontsize=14)  # fmt: skip
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return save(fig, path)


@slide_figure
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
        scale = _scale(outcome)
        for color, level in zip(colors, levels, strict=True):
            rows = sub[sub[by] == level].sort_values(x)
            xv = rows[x].to_numpy(dtype=float)
            ax.plot(xv, rows["mean"] * scale, marker="o", ms=4, lw=2, color=color, label=str(level))
            lo, hi = rows["ci_low"].to_numpy(float), rows["ci_high"].to_numpy(float)
            if np.isfinite(lo).any():
                ax.fill_between(xv, lo * scale, hi * scale, color=color, alpha=0.18, linewidth=0)
        ax.set_xlabel(x_label)
        ax.set_title(plain_label(outcome), loc="left", fontsize=13)
        ax.set_ylabel(_unit_label(outcome, days), fontsize=12)
        ax.grid(alpha=0.3)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, title=by_label, loc="lower center", ncol=min(len(levels), 5),
               fontsize=12, title_fontsize=12, frameon=False,
               bbox_to_anchor=(0.5, 0.0))  # fmt: skip
    fig.suptitle(f"Outcomes against {x_label} per {by} (mean and 95% band, "
                 f"{_replicates_note(summary)})", fontsize=14)  # fmt: skip
    fig.tight_layout(rect=(0, 0.07, 1, 0.97))
    return save(fig, path)


# ------------------------------------------------------------------------------------ sensitivity


@slide_figure
def plot_sobol(
    indices: pd.DataFrame, path: Path, *, labels: Mapping[str, str] | None = None
) -> list[Path]:
    """One panel per outcome: first-order (S1) and total-order (ST) Sobol indices per factor,
    with their 95% bootstrap intervals, factors sorted by ST."""
    outcomes = list(dict.fromkeys(indices["outcome"]))
    fig, axes = _grid(len(outcomes), ncols=2, size=(7.3, 0.55 * indices["factor"].nunique() + 2.4))
    for ax, outcome in zip(axes, outcomes, strict=True):
        sub = indices[indices["outcome"] == outcome]
        if sub["ST"].isna().all():
            ax.text(0.5, 0.5, f"{outcome}: {sub['note'].iloc[0]}", ha="center", va="center",
                    transform=ax.transAxes, fontsize=12, wrap=True)  # fmt: skip
            ax.set_axis_off()
            continue
        sub = sub.sort_values("ST", ascending=True)
        pos = np.arange(len(sub))
        names = [(labels or {}).get(f, f) for f in sub["factor"]]
        ax.barh(pos + 0.2, sub["S1"], 0.38, xerr=sub["S1_conf"], color="#4c72b0",
                label="first order S1", capsize=2)  # fmt: skip
        ax.barh(pos - 0.2, sub["ST"], 0.38, xerr=sub["ST_conf"], color="#dd8452",
                label="total order ST", capsize=2)  # fmt: skip
        ax.set_yticks(pos, names, fontsize=11)
        ax.axvline(0, color="black", lw=0.6)
        ax.set_xlabel("Sobol index (share of output variance; bars: 95% CI)", fontsize=12)
        ax.set_title(outcome, fontsize=13)
        ax.grid(axis="x", alpha=0.3)
    axes[0].legend(fontsize=11, loc="lower right")
    fig.suptitle("Sobol sensitivity indices", fontsize=14)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return save(fig, path)


@slide_figure
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
    fig, axes = _grid(len(outcomes), ncols=2, size=(7.3, 5.7))
    for ax, outcome in zip(axes, outcomes, strict=True):
        sub = indices[indices["outcome"] == outcome]
        if sub["mu_star"].isna().all():
            ax.text(0.5, 0.5, f"{outcome}: {sub['note'].iloc[0]}", ha="center", va="center",
                    transform=ax.transAxes, fontsize=12)  # fmt: skip
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
            ax.annotate(name, (r["mu_star"], r["sigma"]), fontsize=11, xytext=(3, 3),
                        textcoords="offset points")  # fmt: skip
        reach = (sub["mu_star"] + sub["mu_star_conf"].fillna(0)).max()
        x_top = float(reach) * 1.08 or 1.0
        y_top = float(sub["sigma"].max()) * 1.15 or 1.0
        diag = min(x_top, y_top)
        ax.plot([0, diag], [0, diag], ls="--", color="grey", lw=0.8)
        ax.set_xlim(0, x_top)
        ax.set_ylim(0, y_top)
        unit = outcome_label(outcome, days).split(" (", 1)[-1].rstrip(")")
        ax.set_xlabel(f"mu* (mean |effect| of moving across the range; {unit})", fontsize=11)
        ax.set_ylabel("sigma (s.d. of elementary effects, same unit)", fontsize=11)
        note = "\n".join(textwrap.wrap("near 0: " + ", ".join(small), 80)) if small else ""
        ax.set_title(outcome + (f"\n{note}" if note else ""), fontsize=13 if not note else 8)
        ax.grid(alpha=0.3)
    fig.suptitle("Morris screening: mu* against sigma", fontsize=14)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return save(fig, path)


@slide_figure
def plot_effects(
    effects: pd.DataFrame, path: Path, *, labels: Mapping[str, str] | None = None
) -> list[Path]:
    """One panel per outcome: standardised regression coefficients with 95% intervals."""
    outcomes = list(dict.fromkeys(effects["outcome"]))
    n_f = effects["factor"].nunique()
    fig, axes = _grid(len(outcomes), ncols=2, size=(7.0, 0.5 * n_f + 2.4))
    for ax, outcome in zip(axes, outcomes, strict=True):
        sub = effects[effects["outcome"] == outcome]
        if sub["src"].isna().all():
            ax.text(0.5, 0.5, f"{outcome}: {sub['note'].iloc[0]}", ha="center", va="center",
                    transform=ax.transAxes, fontsize=12)  # fmt: skip
            ax.set_axis_off()
            continue
        sub = sub.assign(size=sub["src"].abs()).sort_values("size")
        pos = np.arange(len(sub))
        err = np.vstack([sub["src"] - sub["ci_low"], sub["ci_high"] - sub["src"]])
        colors = ["#c44e52" if v > 0 else "#4c72b0" for v in sub["src"]]
        ax.barh(pos, sub["src"], xerr=err, color=colors, capsize=2)
        ax.set_yticks(pos, [(labels or {}).get(f, f) for f in sub["factor"]], fontsize=11)
        ax.axvline(0, color="black", lw=0.6)
        ax.set_xlabel("standardised regression coefficient (s.d. of outcome per s.d. of factor)",
                      fontsize=11)  # fmt: skip
        ax.set_title(f"{outcome} (linear R² = {sub['r2'].iloc[0]:.2f})", fontsize=13)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("Factor effects on design-point means (95% CI)", fontsize=14)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return save(fig, path)


@slide_figure
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
    fig, axes = _grid(len(factors), ncols=4, size=(4.7, 3.9))
    for ax, f in zip(axes, factors, strict=True):
        values = sub[f].tolist()
        if sub[f].dtype == object:
            order = _ordered(values, (orders or {}).get(f))
            xv = np.array([order.index(v) for v in values], dtype=float)
            ax.set_xticks(range(len(order)), [str(v) for v in order], fontsize=10, rotation=30)
        else:
            xv = sub[f].to_numpy(dtype=float)
        scale = _scale(outcome)
        mean = sub["mean"].to_numpy(dtype=float) * scale
        yerr = np.vstack([mean - sub["ci_low"].to_numpy(float) * scale,
                          sub["ci_high"].to_numpy(float) * scale - mean])
        ax.errorbar(xv, mean, yerr=np.where(np.isfinite(yerr), np.maximum(yerr, 0.0), 0.0), fmt="o",
                    ms=3, alpha=0.75, color="#4c72b0", ecolor="#c8d3e6")  # fmt: skip
        ax.set_xlabel((labels or {}).get(f, f), fontsize=11)
        ax.grid(alpha=0.3)
    fig.supylabel(outcome_label(outcome, days), fontsize=12)
    fig.suptitle(f"{plain_label(outcome)}: design-point means (95% interval) against each "
                 f"factor ({_replicates_note(sub)})", fontsize=14)  # fmt: skip
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return save(fig, path)
