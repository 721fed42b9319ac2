"""Tests of the terrain map figures (Agg canvas, PNG output)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from sim.analysis.maps import plot_incident_density, plot_terrain_map
from sim.terrain import Terrain, build_terrain, load_terrain_config

COARSE = Path(__file__).resolve().parents[1] / "configs" / "terrain" / "qarachogh_coarse.yaml"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def terrain() -> Terrain:
    return build_terrain(load_terrain_config(COARSE), 4.0)


@pytest.fixture(scope="module")
def incidents(terrain) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    cells = np.argwhere(terrain.layers["gap"])[
        rng.integers(0, int(terrain.layers["gap"].sum()), 120)
    ]
    x, y = terrain.to_km(cells[:, 0], cells[:, 1])
    return pd.DataFrame(
        {
            "x_km": x,
            "y_km": y,
            "type": rng.choice(["kidnapping", "ambush", "fake_checkpoint"], len(x)),
            "replicate": rng.integers(0, 4, len(x)),
        }
    )


def assert_png(path: Path) -> None:
    assert path.is_file()
    assert path.stat().st_size > 20_000
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_terrain_map_writes_png(terrain, tmp_path):
    path = tmp_path / "figures" / "nested" / "map.png"
    fig = plot_terrain_map(terrain, path)
    assert isinstance(fig, Figure)
    assert_png(path)
    labels = {t.get_text() for t in fig.legends[0].get_texts()}
    assert {"Peshmerga line", "Iraqi line", "gap band (4 km)"} <= labels
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"Makhmour", "Makhmour Camp", "Ali Rash", "Gali Manjalan"} <= texts


def test_terrain_map_with_incidents(terrain, incidents, tmp_path):
    fig = plot_terrain_map(terrain, tmp_path / "map.png", incidents=incidents, title="test map")
    assert_png(tmp_path / "map.png")
    labels = " ".join(t.get_text() for t in fig.legends[0].get_texts())
    assert "incident: kidnapping" in labels and "incident: fake checkpoint" in labels
    assert fig.axes[0].get_title() == "test map"


def test_terrain_map_without_gap_and_without_path(tmp_path):
    t = build_terrain(load_terrain_config(COARSE), 0.0)
    fig = plot_terrain_map(t)
    labels = {x.get_text() for x in fig.legends[0].get_texts()}
    assert not any(label.startswith("gap band") for label in labels)
    assert not list(tmp_path.iterdir())


def test_map_of_saved_terrain(terrain, tmp_path):
    back = Terrain.load_npz(terrain.save_npz(tmp_path / "terrain.npz"))
    plot_terrain_map(back, tmp_path / "map.png")
    assert_png(tmp_path / "map.png")


def test_incident_density_writes_png(terrain, incidents, tmp_path):
    fig = plot_incident_density(terrain, incidents, tmp_path / "density.png")
    assert_png(tmp_path / "density.png")
    assert "4 replicates" in fig.axes[0].get_title()
    empty = incidents.iloc[:0]
    plot_incident_density(terrain, empty, tmp_path / "empty.png")
    assert_png(tmp_path / "empty.png")


def test_incidents_need_coordinates(terrain):
    with pytest.raises(ValueError, match="x_km"):
        plot_terrain_map(terrain, incidents=pd.DataFrame({"type": ["ambush"]}))
