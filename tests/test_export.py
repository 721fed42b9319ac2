"""`gapsim export DIR`: GeoPackage/GeoJSON in WGS84 and the elevation GeoTIFF of a run.

The run directories are built here from the coarse terrain and a hand-made incidents table whose
positions are known (Makhmour town, cells of each zone), plus one real `gapsim run`.
"""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import yaml
from omegaconf import OmegaConf

from sim.cli import main
from sim.terrain import Terrain, Zone, build_terrain, load_terrain_config

COARSE = Path(__file__).resolve().parents[1] / "configs" / "terrain" / "qarachogh_coarse.yaml"
LAYERS = {"incidents", "lines", "gap_band", "zones", "settlements", "places", "caves", "roads",
          "rivers", "areas", "extent"}  # fmt: skip
ZONE_NAMES = {z: z.name for z in Zone}  # as the model writes them: GAP, RIDGE, PLAIN, CAMP


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def terrain() -> Terrain:
    return build_terrain(load_terrain_config(COARSE), 4.0)


def known_incidents(terrain: Terrain) -> pd.DataFrame:
    """One incident at Makhmour town, then ten at cell centres of each zone."""
    rng = np.random.default_rng(5)
    rows = [(0.0, 0.0, "PLAIN")]
    for code, name in ZONE_NAMES.items():
        cells = np.argwhere(terrain.layers["zone"] == code)
        for ix, iy in cells[rng.choice(len(cells), min(10, len(cells)), replace=False)]:
            x, y = terrain.to_km(ix, iy)
            rows.append((x, y, name))
    x, y, zone = zip(*rows, strict=True)
    n = len(rows)
    return pd.DataFrame({
        "scenario": "status_quo_2019", "replicate": np.arange(n) % 2, "t_hours": np.arange(n) * 3.5,
        "x_km": x, "y_km": y, "zone": pd.Categorical(zone), "type": "ambush",
        "victims": rng.integers(0, 3, n), "response_h": np.where(np.arange(n) % 3, 1.5, np.nan),
    })  # fmt: skip


@pytest.fixture
def run_dir(terrain, tmp_path) -> Path:
    out = tmp_path / "run"
    out.mkdir()
    terrain.save_npz(out / "terrain.npz")
    data = {"terrain": OmegaConf.to_container(load_terrain_config(COARSE)), "gap_width_km": 4.0}
    (out / "config.yaml").write_text(yaml.safe_dump(data))
    known_incidents(terrain).to_parquet(out / "incidents.parquet")
    return out


def test_export_writes_a_wgs84_geopackage_with_every_layer(run_dir, terrain):
    code, out, err = cli("export", str(run_dir))
    assert (code, err) == (0, ""), err
    gpkg = run_dir / "gis" / "gapsim.gpkg"
    assert f"wrote {gpkg}" in out
    assert {name for name, _ in pyogrio.list_layers(gpkg)} == LAYERS
    incidents = gpd.read_file(gpkg, layer="incidents")
    assert incidents.crs.to_epsg() == 4326
    table = pd.read_parquet(run_dir / "incidents.parquet")
    assert list(incidents.columns) == [*table.columns, "lon", "lat", "geometry"]
    assert len(incidents) == len(table)
    town = incidents.geometry.iloc[0]
    assert (town.y, town.x) == pytest.approx((35.7756, 43.5794), abs=1e-7)
    assert incidents["response_h"].isna().sum() == table["response_h"].isna().sum()
    for layer in LAYERS - {"incidents"}:
        assert gpd.read_file(gpkg, layer=layer).crs.to_epsg() == 4326, layer
    settlements = gpd.read_file(gpkg, layer="settlements").set_index("name")
    assert settlements.loc["makhmour", "pop"] == 23828
    assert (settlements.loc["makhmour"].geometry.y, settlements.loc["makhmour"].geometry.x) == (
        pytest.approx((35.7756, 43.5794), abs=1e-7)
    )
    assert len(gpd.read_file(gpkg, layer="caves")) == len(terrain.caves)
    lines = gpd.read_file(gpkg, layer="lines")
    assert list(lines["name"]) == ["peshmerga_line", "iraqi_line"]


def test_incidents_land_in_their_zones(run_dir):
    """Each incident (at a cell centre of a known zone) lies inside that zone's exported polygon,
    in longitude/latitude, and inside the gap band exactly when its zone is the gap."""
    assert cli("export", str(run_dir))[0] == 0
    gpkg = run_dir / "gis" / "gapsim.gpkg"
    incidents = gpd.read_file(gpkg, layer="incidents")
    zones = gpd.read_file(gpkg, layer="zones").set_index("zone")
    for _, inc in incidents.iloc[1:].iterrows():
        assert zones.loc[inc["zone"]].geometry.contains(inc.geometry), inc[["x_km", "y_km", "zone"]]
    band = gpd.read_file(gpkg, layer="gap_band").geometry.iloc[0]
    in_band = incidents.geometry.within(band)
    not_camp = incidents["zone"] != "CAMP"
    assert (in_band[not_camp] == (incidents["zone"] == "GAP")[not_camp]).all()
    area = gpd.read_file(gpkg, layer="gap_band")["area_km2"].iloc[0]
    assert area == pytest.approx(281.858, abs=0.01)  # exact polygon of the 4 km band, km2


def test_geojson_on_request_and_the_elevation_geotiff(run_dir, terrain):
    rasterio = pytest.importorskip("rasterio")
    out = run_dir.parent / "gis_here"
    assert cli("export", str(run_dir), "format=geojson", f"out={out}")[0] == 0
    assert not (out / "gapsim.gpkg").exists()
    assert {p.stem for p in (out / "geojson").glob("*.geojson")} == LAYERS
    inc = gpd.read_file(out / "geojson" / "incidents.geojson")
    assert inc.crs.to_epsg() == 4326 and len(inc) == len(
        pd.read_parquet(run_dir / "incidents.parquet")
    )
    with rasterio.open(out / "elevation.tif") as src:
        from pyproj import Transformer

        to_tif = Transformer.from_crs("EPSG:4326", src.crs.to_wkt(), always_xy=True)
        e, n = to_tif.transform(*terrain.to_lonlat(0.1, 0.2))  # in town, off cell edges
        row, col = src.index(e, n)
        ix, iy = terrain.to_cell(0.1, 0.2)
        assert src.read(1)[row, col] == pytest.approx(terrain.layers["elevation_m"][ix, iy])
    with rasterio.open(out / "layers.tif") as src:
        assert src.descriptions == tuple(terrain.layers)
        zone = src.read(src.descriptions.index("zone") + 1)
        assert zone[row, col] == terrain.layers["zone"][ix, iy]
        assert (zone == 0).sum() == terrain.layers["gap"].sum()  # Zone.GAP cells


def test_old_terrain_files_and_missing_ones_are_rebuilt_from_the_config(run_dir, terrain):
    """A terrain.npz from before the zone polygons (format 1) gets them from config.yaml; a run
    without terrain.npz gets the whole terrain rebuilt from it."""
    with np.load(run_dir / "terrain.npz") as data:
        old = {k: data[k] for k in data.files if k not in ("crs_wkt", "zone_names", "zone_wkb")}
    old["format_version"] = np.array(1)
    np.savez_compressed(run_dir / "terrain.npz", **old)
    assert Terrain.load_npz(run_dir / "terrain.npz").zones_km == {}
    assert cli("export", str(run_dir))[0] == 0
    band = gpd.read_file(run_dir / "gis" / "gapsim.gpkg", layer="gap_band")
    assert band["area_km2"].iloc[0] == pytest.approx(terrain.zones_km["gap"].area)
    (run_dir / "terrain.npz").unlink()
    assert cli("export", str(run_dir))[0] == 0
    caves = gpd.read_file(run_dir / "gis" / "gapsim.gpkg", layer="caves")
    assert len(caves) == len(terrain.caves)


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (["{missing}"], "export"),
        (["{empty}"], "export"),
        (["{run}", "format=shp"], "format"),
        (["{run}", "colour=red"], "colour"),
        (["{run}", "{run}"], "export"),
        ([], "export"),
    ],
)
def test_bad_requests_get_one_line_and_exit_2(args, key, run_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    names = {"missing": tmp_path / "nope", "empty": tmp_path / "empty", "run": run_dir}
    code, out, err = cli("export", *(a.format(**names) for a in args))
    assert code == 2 and out == ""
    assert err.startswith(f"gapsim: error: {key}=") and err.count("\n") == 1, err
    assert not (run_dir / "gis").exists() and not (tmp_path / "empty" / "gis").exists()


def test_export_of_a_real_run(tmp_path):
    """`gapsim run` then `gapsim export`: every incident row arrives, at its own x/y."""
    out = tmp_path / "run"
    code, _, err = cli("run", "terrain=qarachogh_coarse", "days=20", "replicates=1", "workers=1",
                       f"hydra.run.dir={out}")  # fmt: skip
    assert code == 0, err
    assert cli("export", str(out))[0] == 0
    table = pd.read_parquet(out / "incidents.parquet")
    incidents = gpd.read_file(out / "gis" / "gapsim.gpkg", layer="incidents")
    assert len(incidents) == len(table)
    terrain = Terrain.load_npz(out / "terrain.npz")
    if len(table):
        x, y = terrain.frame.from_lonlat(incidents.geometry.x, incidents.geometry.y)
        np.testing.assert_allclose(x, table["x_km"], atol=1e-6)
        np.testing.assert_allclose(y, table["y_km"], atol=1e-6)


def test_export_without_rasterio_writes_the_rest(run_dir, monkeypatch):
    """A plain install (no geotiff extra): the GeoPackage is written, the GeoTIFF is skipped
    with a line saying how to get it."""
    monkeypatch.setitem(sys.modules, "rasterio", None)
    code, out, err = cli("export", str(run_dir))
    assert (code, err) == (0, "")
    assert "layers.tif skipped" in out and "--extra geotiff" in out
    assert (run_dir / "gis" / "gapsim.gpkg").is_file()
    assert not (run_dir / "gis" / "elevation.tif").exists()
