"""An animation of one replicate over the terrain map, for a workshop screen.

Why a recorded run, not a live model: the frames are drawn from snapshots taken while the model
runs (positions at midday each ``every_days``), so the model stays free of drawing code and the
static map is drawn once; each frame only moves scatter points.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib.animation import FuncAnimation, PillowWriter  # noqa: E402

from sim.model.params import FORCES  # noqa: E402

FORCE_COLOURS = {"PESH": "#1b9e77", "IA": "#d95f02", "PMF": "#7570b3", "JOINT": "#e7298a"}
INCIDENT_COLOUR = "#e31a1c"


@dataclass
class Frame:
    day: int
    date: str
    patrols: np.ndarray
    patrol_force: np.ndarray
    cells: np.ndarray
    villagers_out: np.ndarray
    incidents: np.ndarray  # incidents of the last ``every_days`` (x, y)
    fighters: int


@dataclass
class Recording:
    frames: list[Frame] = field(default_factory=list)


def record(model, every_days: int = 2) -> Recording:
    """Run ``model`` to its horizon, taking a snapshot at midday every ``every_days`` days."""
    rec = Recording()
    tpd = model.clock.ticks_per_day
    midday = tpd // 2
    last_inc = 0
    while model.running:
        model.step()
        clock = model.clock
        if clock.tick_of_day == midday and clock.day % every_days == 0:
            f = model.forces
            ins = model.insurgents
            v = model.villagers
            inc = model.recorder.inc
            xy = np.column_stack([inc["x_km"][last_inc:], inc["y_km"][last_inc:]]) \
                if len(inc["x_km"]) > last_inc else np.zeros((0, 2))
            last_inc = len(inc["x_km"])
            rec.frames.append(Frame(
                day=clock.day, date=clock.date.isoformat(),
                patrols=f.patrol_xy[f.patrol_out].copy(),
                patrol_force=f.patrol_force[f.patrol_out].copy(),
                cells=ins.xy[ins.active].copy(), villagers_out=v.xy[v.out].copy(),
                incidents=xy, fighters=ins.total_fighters))
    return rec


def render(terrain, recording: Recording, path: str | Path, title: str, fps: int = 6) -> Path:
    """Write the recording as an animated GIF over the static terrain map."""
    from sim.analysis.maps import plot_terrain_map

    fig = plot_terrain_map(terrain, None, title=title)
    ax = fig.axes[0]
    vill = ax.scatter([], [], s=6, c="#2c7fb8", alpha=0.6, zorder=8, label="villagers out")
    pat = ax.scatter([], [], s=26, marker="s", edgecolors="k", linewidths=0.4, zorder=9)
    cells = ax.scatter([], [], s=40, marker="X", c="k", zorder=10)
    inc = ax.scatter([], [], s=70, marker="*", c=INCIDENT_COLOUR, edgecolors="white",
                     linewidths=0.5, zorder=11)
    text = ax.text(0.02, 0.02, "", transform=ax.transAxes, fontsize=10, zorder=12,
                   bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})
    empty = np.zeros((0, 2))

    def update(i: int):
        fr = recording.frames[i]
        vill.set_offsets(fr.villagers_out if len(fr.villagers_out) else empty)
        pat.set_offsets(fr.patrols if len(fr.patrols) else empty)
        pat.set_color([FORCE_COLOURS[FORCES[k]] for k in fr.patrol_force])
        cells.set_offsets(fr.cells if len(fr.cells) else empty)
        inc.set_offsets(fr.incidents if len(fr.incidents) else empty)
        text.set_text(f"{fr.date}  day {fr.day}  fighters {fr.fighters}  "
                      f"incidents since last frame {len(fr.incidents)}\n"
                      "squares: patrols (colour = force)  X: insurgent cells  "
                      "dots: villagers out  stars: incidents")
        return vill, pat, cells, inc, text

    anim = FuncAnimation(fig, update, frames=len(recording.frames), blit=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    anim.save(path, writer=PillowWriter(fps=fps), dpi=70)
    return path
