"""The dashboard's live charts, drawn from the model's DataCollector (model reporters only).

Why one figure of four small panels: each frame re-draws the charts, and one matplotlib figure is
cheaper to render and send than four; the x axis is the simulated day whatever the step length,
so charts from a "3 h" run and a "1 week" run read the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sim.analysis import maps
from sim.app.mapview import INCIDENT_STYLE
from sim.model.recorder import INCIDENT_TYPES

if TYPE_CHECKING:
    import pandas as pd

    from sim.model.model import SecurityGapModel

#: Trust series: (reporter, label, colour, line style).
TRUST_SERIES = (
    ("trust_kurd_pesh", "Kurds: PESH", maps.PESH_COLOUR, "-"),
    ("trust_kurd_ia", "Kurds: IA", maps.IRAQI_COLOUR, "-"),
    ("trust_arab_pesh", "Arabs: PESH", maps.PESH_COLOUR, "--"),
    ("trust_arab_ia", "Arabs: IA", maps.IRAQI_COLOUR, "--"),
)


def _trust(model: SecurityGapModel, community: int, force: int) -> float:
    return float(model.villagers.mean_trust()[community, force])


def model_reporters() -> dict[str, Any]:
    """Reporters for ``mesa.DataCollector`` (cheap: counters and a few small numpy means)."""
    reps: dict[str, Any] = {"day": lambda m: m.clock.hours / 24.0}
    for kind in INCIDENT_TYPES:
        reps[f"inc_{kind}"] = lambda m, k=kind: m.recorder.inc["type"].count(k)
    reps["fighters"] = lambda m: int(m.insurgents.total_fighters)
    reps["cells"] = lambda m: int(m.insurgents.active.sum())
    reps["tips"] = lambda m: int(m.recorder.tips_by_force.sum())
    reps["tips_reaching_actor"] = lambda m: int(m.intel.tips_reaching_actor)
    for key, *_ in TRUST_SERIES:
        community = 0 if "_kurd_" in key else 1
        force = 0 if key.endswith("_pesh") else 1
        reps[key] = lambda m, c=community, f=force: _trust(m, c, f)
    return reps


def charts_figure(df: pd.DataFrame, *, days: int) -> Figure:
    """Four panels: incidents by type (cumulative), fighters, tips, trust by community.

    Args:
        df: ``DataCollector.get_model_vars_dataframe()`` with the reporters above.
        days: the run's horizon (days), to fix the x range as the run goes on.
    """
    fig = Figure(figsize=(6.4, 6.6), dpi=90)
    FigureCanvasAgg(fig)
    axes = fig.subplots(4, 1, sharex=True, height_ratios=(1.5, 1, 1, 1.1))
    # A fixed layout: constrained layout costs more than drawing the data, every frame.
    fig.subplots_adjust(left=0.09, right=0.985, top=0.965, bottom=0.07, hspace=0.3)
    day = df["day"].to_numpy(float)
    right = max(float(day[-1]) if len(day) else 0.0, 7.0)
    right = min(max(right * 1.15, 7.0), float(days))

    ax = axes[0]
    present = [k for k in INCIDENT_TYPES if df[f"inc_{k}"].iloc[-1] > 0] if len(df) else []
    if present:
        ax.stackplot(
            day,
            *[df[f"inc_{k}"].to_numpy(float) for k in present],
            colors=[INCIDENT_STYLE[k][0] for k in present],
            labels=[f"{k.replace('_', ' ')} ({int(df[f'inc_{k}'].iloc[-1])})" for k in present],
            alpha=0.85,
        )
        ax.legend(loc="upper left", fontsize=7, frameon=False, ncol=2)
    else:
        ax.text(
            0.5,
            0.5,
            "no incidents yet",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=9,
            color="#666666",
        )
    ax.set_ylabel("incidents", fontsize=8)
    ax.set_title("Incidents by type (cumulative)", fontsize=9, loc="left")

    ax = axes[1]
    ax.plot(day, df["fighters"], color="#111111", lw=1.6, label="fighters")
    ax.set_ylabel("fighters", fontsize=8)
    ax.set_title(
        "Insurgent fighters"
        + (
            f" ({int(df['fighters'].iloc[-1])} in {int(df['cells'].iloc[-1])} cells)"
            if len(df)
            else ""
        ),
        fontsize=9,
        loc="left",
    )
    ax.set_ylim(bottom=0)

    ax = axes[2]
    tips = df["tips"].to_numpy(float)
    reach = df["tips_reaching_actor"].to_numpy(float)
    ax.plot(day, tips, color="#999999", lw=1.4, label="all villager tips")
    ax.plot(day, reach, color=maps.KURD_COLOUR, lw=1.8, label="reached the force able to act")
    share = f" ({reach[-1] / tips[-1]:.0%} reached)" if len(tips) and tips[-1] > 0 else ""
    ax.set_title(f"Tips reaching the acting force{share}", fontsize=9, loc="left")
    ax.set_ylabel("tips", fontsize=8)
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize=7, frameon=False)

    ax = axes[3]
    for key, label, colour, style in TRUST_SERIES:
        ax.plot(day, df[key], color=colour, ls=style, lw=1.5, label=label)
    ax.set_ylim(0, 1)
    ax.set_ylabel("mean trust", fontsize=8)
    ax.set_title(
        "Trust in the Peshmerga (PESH) and Iraqi Army (IA), by community", fontsize=9, loc="left"
    )
    ax.legend(loc="lower left", fontsize=7, frameon=False, ncol=4, handlelength=2.2)
    ax.set_xlabel("days since the start", fontsize=8)

    for ax in axes:
        ax.set_xlim(0, right)
        ax.tick_params(labelsize=7.5)
        ax.grid(True, alpha=0.3, lw=0.5)
        ax.margins(x=0)
    if len(day) == 1:  # a single point: show it as a marker
        for line in (*axes[1].lines, *axes[2].lines, *axes[3].lines):
            line.set_marker("o")
            line.set_markersize(3)
    return fig


def last_values(df: pd.DataFrame) -> dict[str, float]:
    """The latest row as plain floats (for the status line and tests)."""
    if not len(df):
        return {}
    row = df.iloc[-1]
    return {k: float(v) for k, v in row.items() if np.isscalar(v)}
