"""Real geography: the frame (pyproj), exact geometry (shapely) and GeoTIFF DEMs (rasterio).

GeoTIFFs are written inside the tests, in geographic (EPSG:4326) and in projected (UTM 38N,
EPSG:32638) coordinates, so the DEM path a user with an SRTM tile takes is tested without data
files. Most tests use the 500 m preset (100 x 130 cells).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely
from omegaconf import OmegaConf
from pyproj import Geod, Transformer

from sim.terrain import Zone, build_terrain, load_terrain_config, parse_terrain
from sim.terrain.geometry import build_geometry
from sim.terrain.grid import Grid
from sim.terrain.spec import MAKHMOUR_LATLON

rasterio = pytest.importorskip("rasterio")
from rasterio.transform import from_origin  # noqa: E402

COARSE = Path(__file__).resolve().parents[1] / "configs" / "terrain" / "qarachogh_coarse.yaml"
GEOD = Geod(ellps="WGS84")
LAT0, LON0 = MAKHMOUR_LATLON


@pytest.fixture(scope="module")
def cfg():
    return load_terrain_config(COARSE)


@pytest.fixture(scope="module")
def terrain(cfg):
    return build_terrain(cfg, 4.0)


# ------------------------------------------------------------------------------------- frame


def test_makhmour_town_is_the_origin(terrain):
    lon, lat = terrain.to_lonlat(0.0, 0.0)
    assert (lat, lon) == pytest.approx((35.7756, 43.5794), abs=1e-9)
    town = next(s for s in terrain.settlements if s.name == "makhmour")
    assert terrain.to_lonlat(town.x_km, town.y_km) == pytest.approx((lon, lat), abs=1e-9)
    assert round(lat, 2) == 35.78 and round(lon, 2) == 43.58


def test_km_in_the_frame_are_km_on_the_ground(terrain):
    """Geodesic distances on WGS84 match the frame's km to 0.01 % over the whole map (the
    transverse Mercator scale is 1 + x^2 / 2R^2: 1e-5 at 28 km from the central meridian)."""
    x = np.array([10.0, 0.0, 28.0, -22.0, 28.0])
    y = np.array([0.0, 10.0, 30.0, -35.0, -35.0])
    lon, lat = terrain.to_lonlat(x, y)
    _, _, metres = GEOD.inv(np.full(5, LON0), np.full(5, LAT0), lon, lat)
    np.testing.assert_allclose(metres / 1000.0, np.hypot(x, y), rtol=1e-4)
    north_lon, _ = terrain.to_lonlat(0.0, 10.0)
    assert north_lon == pytest.approx(LON0, abs=1e-12)  # y runs along the meridian


def test_frame_round_trip_and_cells(terrain):
    x, y = np.array([-21.0, 0.3, 27.9]), np.array([-34.0, 0.7, 29.9])
    back = terrain.frame.from_lonlat(*terrain.to_lonlat(x, y))
    np.testing.assert_allclose(back, (x, y), atol=1e-9)
    lon, lat = terrain.cells_lonlat
    assert lon.shape == terrain.shape
    assert terrain.cell_lonlat(0, 0) == pytest.approx((lon[0, 0], lat[0, 0]))
    assert lon[1, 0] > lon[0, 0] and lat[0, 1] > lat[0, 0]  # ix east, iy north


def test_every_named_place_lies_inside_the_extent_and_the_district(terrain):
    assert len(terrain.places) >= 15
    for name, (x, y) in terrain.places.items():
        assert terrain.contains_km(x, y), name
        lon, lat = terrain.to_lonlat(x, y)
        assert 35.4 < lat < 36.1 and 43.3 < lon < 43.9, (name, lon, lat)  # Makhmour district


def test_frame_follows_the_configured_origin(cfg):
    moved = OmegaConf.merge(cfg, {"frame": {"origin_latlon": [36.19, 44.01]}})  # Erbil
    t = build_terrain(moved, 4.0)
    assert t.to_lonlat(0.0, 0.0) == pytest.approx((44.01, 36.19))
    assert t.key != build_terrain(cfg, 4.0).key


# ---------------------------------------------------------------------------- exact geometry


@pytest.mark.parametrize("preset", ["qarachogh_coarse", "qarachogh"])
def test_gap_band_is_an_exact_polygon_whose_area_scales_with_width(preset):
    """area(6 km) / area(2 km) = 3 to within the corner terms: the line turns ~12 degrees, so
    the round join adds g^2 * angle / 2 on the outer side (< 0.3 %), and the map edges cut the
    band obliquely (< 0.5 %)."""
    spec = parse_terrain(load_terrain_config(COARSE.with_name(f"{preset}.yaml")))
    grid = Grid.of(spec)
    area = {g: build_geometry(spec, grid, g).gap_zone.area for g in (2.0, 4.0, 6.0)}
    assert area[6.0] / area[2.0] == pytest.approx(3.0, rel=0.01)
    assert area[4.0] / area[2.0] == pytest.approx(2.0, rel=0.01)


def test_zone_polygons_and_layers_agree(terrain):
    """A cell is in a zone's layer exactly when its centre lies in the zone's polygon (the camp
    disc overrides the three), and the three polygons tile the extent."""
    x, y = terrain.grid.mesh_km()
    zone = terrain.layers["zone"]
    not_camp = zone != Zone.CAMP
    for name, code in (("ridge", Zone.RIDGE), ("gap", Zone.GAP), ("plain", Zone.PLAIN)):
        poly = terrain.zones_km[name]
        inside = shapely.contains_xy(poly, x, y)
        np.testing.assert_array_equal(inside & not_camp, (zone == code), err_msg=name)
    total = sum(p.area for p in terrain.zones_km.values())
    x0, x1, y0, y1 = terrain.extent_km
    assert total == pytest.approx((x1 - x0) * (y1 - y0), rel=1e-9)
    assert terrain.area_km2(terrain.layers["gap"]) == pytest.approx(
        terrain.zones_km["gap"].area, rel=0.02
    )


def test_iraqi_line_is_gap_width_from_the_peshmerga_line(terrain):
    pesh, iraqi = (
        shapely.LineString(terrain.pesh_line_km),
        shapely.LineString(terrain.iraqi_line_km),
    )
    ends_off = shapely.points(terrain.iraqi_line_km[[0, -1]])
    d = shapely.distance(pesh, shapely.points(terrain.iraqi_line_km))
    # Away from the map edges (where the clipped Peshmerga line ends early) the distance is
    # the gap width to within the round join's chord error.
    interior = shapely.distance(ends_off[0], shapely.points(terrain.iraqi_line_km)) > 8.0
    interior &= shapely.distance(ends_off[1], shapely.points(terrain.iraqi_line_km)) > 8.0
    np.testing.assert_allclose(d[interior], 4.0, atol=1e-3)
    assert not iraqi.intersects(pesh)


def test_road_and_river_cells_are_the_cells_the_lines_pass_through(terrain):
    """Every chain cell is crossed by its line, and every cell with more than a quarter cell of
    road inside it is in the chain (rivers: every crossed cell, 4-connected)."""
    x0, _, y0, _ = terrain.extent_km
    c = terrain.cell_km

    def boxes(cells):
        lo_x, lo_y = x0 + cells[:, 0] * c, y0 + cells[:, 1] * c
        return shapely.box(lo_x, lo_y, lo_x + c, lo_y + c)

    ix, iy = np.meshgrid(np.arange(terrain.width), np.arange(terrain.height), indexing="ij")
    all_boxes = boxes(np.stack([ix.ravel(), iy.ravel()], axis=1))
    chains: dict[str, set] = {}
    for road in terrain.roads:
        line = shapely.LineString(road.polyline_km)
        assert shapely.intersects(boxes(road.cells), line).all(), road.name
        chains.setdefault(road.name.split("#")[0], set()).update(map(tuple, road.cells))
    for road in terrain.roads:
        inside = shapely.length(
            shapely.intersection(all_boxes, shapely.LineString(road.polyline_km))
        )
        long_enough = np.argwhere(inside.reshape(terrain.shape) > c / 4 + 1e-9)
        assert set(map(tuple, long_enough)) <= chains[road.name.split("#")[0]], road.name
    river = shapely.LineString(terrain.rivers_km["great_zab"])
    water = terrain.layers["landuse"] == 4
    length = shapely.length(shapely.intersection(all_boxes, river)).reshape(terrain.shape)
    assert water[length > 0].all()  # every cell the river runs through is water
    assert shapely.intersects(all_boxes.reshape(terrain.shape)[water], river).all()


# ------------------------------------------------------------------------------- GeoTIFF DEMs


def write_tif(path: Path, image: np.ndarray, crs: str, transform) -> None:
    with rasterio.open(
        path, "w", driver="GTiff", width=image.shape[1], height=image.shape[0], count=1,
        dtype="float32", crs=crs, transform=transform, nodata=-32768.0,
    ) as dst:  # fmt: skip
        dst.write(image.astype(np.float32), 1)


def geotiff_cfg(cfg, path: Path):
    return OmegaConf.merge(cfg, {"dem": {"source": "geotiff", "path": str(path)}})


def test_geographic_geotiff_dem(cfg, tmp_path, monkeypatch):
    """An SRTM-like tile in lon/lat (3 arc-second pixels) holding a plane in lon/lat: bilinear
    resampling reproduces a plane exactly, so each cell gets the plane at its own lon/lat
    (to float32 precision), and a bump on Makhmour town peaks in the town's cell."""
    monkeypatch.chdir(tmp_path)
    px = 3.0 / 3600.0
    west, north = 43.3, 36.1
    cols, rows = int(0.7 / px), int(0.75 / px)
    lon = west + (np.arange(cols) + 0.5) * px
    lat = north - (np.arange(rows) + 0.5) * px
    lon_g, lat_g = np.meshgrid(lon, lat)
    plane = 300.0 + 400.0 * (lon_g - 43.5) + 250.0 * (lat_g - 35.7)
    write_tif(tmp_path / "plane.tif", plane, "EPSG:4326", from_origin(west, north, px, px))
    t = build_terrain(geotiff_cfg(cfg, "plane.tif"), 4.0)
    clon, clat = t.cells_lonlat
    expected = 300.0 + 400.0 * (clon - 43.5) + 250.0 * (clat - 35.7)
    np.testing.assert_allclose(t.layers["elevation_m"], expected, atol=2e-3)

    dist_km = np.hypot((lon_g - LON0) * 90.4, (lat_g - LAT0) * 110.9)
    bump = 260.0 + 500.0 * np.exp(-((dist_km / 2.0) ** 2))
    write_tif(tmp_path / "bump.tif", bump, "EPSG:4326", from_origin(west, north, px, px))
    t = build_terrain(geotiff_cfg(cfg, "bump.tif"), 4.0)
    peak = np.unravel_index(np.argmax(t.layers["elevation_m"]), t.shape)
    assert tuple(int(v) for v in peak) == t.to_cell(0.0, 0.0)


def test_projected_geotiff_dem(cfg, tmp_path, monkeypatch):
    """A 100 m DEM in UTM zone 38N (EPSG:32638) holding a plane in easting/northing."""
    monkeypatch.chdir(tmp_path)
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32638", always_xy=True)
    e0, n0 = to_utm.transform(LON0, LAT0)
    west, north, px = e0 - 40_000.0, n0 + 45_000.0, 100.0
    cols, rows = 900, 950
    e = west + (np.arange(cols) + 0.5) * px
    n = north - (np.arange(rows) + 0.5) * px
    e_g, n_g = np.meshgrid(e, n)
    plane = 280.0 + 0.004 * (e_g - e0) + 0.002 * (n_g - n0)
    write_tif(tmp_path / "utm.tif", plane, "EPSG:32638", from_origin(west, north, px, px))
    t = build_terrain(geotiff_cfg(cfg, "utm.tif"), 4.0)
    ce, cn = to_utm.transform(*t.cells_lonlat)
    expected = 280.0 + 0.004 * (ce - e0) + 0.002 * (cn - n0)
    np.testing.assert_allclose(t.layers["elevation_m"], expected, atol=2e-3)
    # The frame's y axis is true north; UTM grid north turns by the convergence angle
    # (lon - 45) * sin(lat) = -0.83 degrees here, which the plane must show.
    grad = np.gradient(np.asarray(t.layers["elevation_m"], dtype=float), t.cell_km * 1000.0)
    angle = np.degrees(np.arctan2(grad[1].mean(), grad[0].mean()) - np.arctan2(0.002, 0.004))
    assert angle == pytest.approx(-(LON0 - 45.0) * np.sin(np.radians(LAT0)), abs=0.05)


def test_geotiff_not_covering_the_map_is_refused(cfg, tmp_path, monkeypatch):
    from sim.errors import ConfigError

    monkeypatch.chdir(tmp_path)
    px = 0.001
    write_tif(tmp_path / "small.tif", np.full((100, 100), 300.0), "EPSG:4326",
              from_origin(LON0, LAT0, px, px))  # fmt: skip
    with pytest.raises(ConfigError, match=r"^terrain\.dem\.path=.*does not cover"):
        build_terrain(geotiff_cfg(cfg, "small.tif"), 4.0)
    write_tif(tmp_path / "nocrs.tif", np.full((10, 10), 300.0), None, from_origin(10, 10, 1, 1))
    with pytest.raises(ConfigError, match="has no CRS"):
        build_terrain(geotiff_cfg(cfg, "nocrs.tif"), 4.0)


def test_exported_elevation_geotiff_round_trips(terrain, cfg, tmp_path, monkeypatch):
    """The export's GeoTIFF, read back as a DEM, reproduces the elevation layer exactly
    (pixels and cells coincide; float32 both ways)."""
    from sim.commands.export import write_elevation_tif

    monkeypatch.chdir(tmp_path)
    assert write_elevation_tif(terrain, tmp_path / "elevation.tif")
    with rasterio.open(tmp_path / "elevation.tif") as src:
        assert (src.width, src.height) == terrain.shape
        assert src.crs.linear_units in ("metre", "meters", "m")
    back = build_terrain(geotiff_cfg(cfg, "elevation.tif"), 4.0)
    np.testing.assert_allclose(back.layers["elevation_m"], terrain.layers["elevation_m"], atol=1e-3)
