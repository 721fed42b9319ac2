"""An animation of one replicate over the terrain map, for a workshop screen.

Why a recorded run, not a live model: the frames are drawn from snapshots taken while the model
runs (positions at midday each ``every_days``), so the model stays free of drawing code and the
static map is drawn once; each frame only moves scatter points. The model is read only through
``sim.app.view``, the one adapter every view of a live model shares.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib.animation import FuncAnimation, PillowWriter  # noqa: E402

from sim.app import view  # noqa: E402

FORCE_COLOURS = {"PESH": "#1b9e77", "IA": "#d95f02", "PMF": "#7570b3", "JOINT": "#e7298a"}
INCIDENT_COLOUR = "#e31a1c"


@dataclass
class Frame:
    day: int
    date: str
    patrols: np.ndarray
    patrol_force: list[str]
    cells: np.ndarray
    villagers_out: np.ndarray
    incidents: np.ndarray  # incidents of the last ``every_days`` (x, y)
    fighters: int
    qrf: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # units away from base
    qrf_force: list[str] = field(default_factory=list)


@dataclass
class Recording:
    frames: list[Frame] = field(default_factory=list)


def record(model, every_days: int = 2) -> Recording:
    """Run ``model`` to its horizon a day at a time (``sim.app.view``), taking a snapshot at
    midday every ``every_days`` days."""
    rec = Recording()
    while view.is_running(model):
        view.advance_day(model)
        snap = view.snapshot(model)
        if snap.day % every_days == 0 and view.is_running(model):
            recent = view.recent_incidents(model, every_days)
            xy = np.array([(i.x_km, i.y_km) for i in recent], dtype=float).reshape(-1, 2)
            rec.frames.append(Frame(day=snap.day, date=snap.date, patrols=snap.patrols,
                                    patrol_force=snap.patrol_force, cells=snap.cells,
                                    villagers_out=snap.villagers_out, incidents=xy,
                                    fighters=snap.fighters, qrf=snap.qrf,
                                    qrf_force=snap.qrf_force))  # fmt: skip
    return rec


def render(terrain, recording: Recording, path: str | Path, title: str, fps: int = 6) -> Path:
    """Write the recording as an animated GIF over the static terrain map."""
    from sim.analysis.maps import plot_terrain_map

    fig = plot_terrain_map(terrain, None, title=title)
    ax = fig.axes[0]
    vill = ax.scatter([], [], s=6, c="#2c7fb8", alpha=0.6, zorder=8, label="villagers out")
    pat = ax.scatter([], [], s=26, marker="s", edgecolors="k", linewidths=0.4, zorder=9)
    qrf = ax.scatter([], [], s=40, marker="^", edgecolors="k", linewidths=0.6, zorder=9)
    cells = ax.scatter([], [], s=40, marker="X", c="k", zorder=10)
    inc = ax.scatter([], [], s=70, marker="*", c=INCIDENT_COLOUR, edgecolors="white",
                     linewidths=0.5, zorder=11)
    text = ax.text(0.02, 0.02, "", transform=ax.transAxes, fontsize=10, zorder=12,
                   bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})
    # The map's layout is fixed once, before the first frame: the caption (whose width changes) is
    # left out of it, so the map neither shrinks nor jumps from frame to frame.
    text.set_in_layout(False)
    fig.canvas.draw()
    fig.set_layout_engine("none")
    empty = np.zeros((0, 2))

    def update(i: int):
        fr = recording.frames[i]
        vill.set_offsets(fr.villagers_out if len(fr.villagers_out) else empty)
        pat.set_offsets(fr.patrols if len(fr.patrols) else empty)
        pat.set_color([FORCE_COLOURS.get(k, "#444444") for k in fr.patrol_force])
        qrf.set_offsets(fr.qrf if len(fr.qrf) else empty)
        qrf.set_color([FORCE_COLOURS.get(k, "#444444") for k in fr.qrf_force])
        cells.set_offsets(fr.cells if len(fr.cells) else empty)
        inc.set_offsets(fr.incidents if len(fr.incidents) else empty)
        text.set_text(f"{fr.date}  day {fr.day + 1}  fighters {fr.fighters}  "
                      f"incidents since last frame {len(fr.incidents)}\n"
                      "squares: patrols (colour = force)  triangles: quick-reaction units\n"
                      "X: insurgent cells  dots: villagers out  stars: incidents")
        return vill, pat, qrf, cells, inc, text

    anim = FuncAnimation(fig, update, frames=len(recording.frames), blit=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    anim.save(path, writer=PillowWriter(fps=fps), dpi=70)
    return path
