"""Tests of the terrain builder, the DEM loader and the terrain config checks.

Most tests use the 500 m preset (``qarachogh_coarse``: 100 x 130 cells, about 0.05 s a build).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf
from scipy import ndimage

from sim.errors import ConfigError
from sim.terrain import (
    LAYER_NAMES,
    LandUse,
    Terrain,
    TerrainConfig,
    Zone,
    build_terrain,
    clear_terrain_cache,
    get_terrain,
    load_terrain_config,
    parse_terrain,
    terrain_key,
    validate_terrain,
)
from sim.terrain.relief import regional_plain

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "terrain"
FULL = CONFIGS / "qarachogh.yaml"
COARSE = CONFIGS / "qarachogh_coarse.yaml"


@pytest.fixture(scope="module")
def coarse_cfg():
    return load_terrain_config(COARSE)


@pytest.fixture(scope="module")
def coarse(coarse_cfg) -> Terrain:
    return build_terrain(coarse_cfg, 4.0)


def with_changes(cfg, **changes):
    """A copy of a DictConfig with dotted keys replaced."""
    out = OmegaConf.create(OmegaConf.to_container(cfg))
    for key, value in changes.items():
        OmegaConf.update(out, key.replace("__", "."), value, merge=False)
    return out


# ---------------------------------------------------------------------------------------------
# Config files


def test_yaml_merges_into_structured_schema():
    cfg = OmegaConf.merge(OmegaConf.structured(TerrainConfig), OmegaConf.load(FULL))
    assert cfg.cell_m == 250
    assert (cfg.x_min_km, cfg.x_max_km, cfg.y_min_km, cfg.y_max_km) == (-22, 28, -35, 30)
    assert cfg.dem.source == "procedural"
    names = [s.name for s in cfg.settlements]
    assert {"makhmour", "makhmour_camp", "azikand", "ali_rash", "kandar", "gwer", "dibaga"} <= set(
        names
    )
    assert sum(n.startswith("qaraj_") for n in names) >= 6


def test_coarse_preset_only_changes_cell_size():
    full, coarse = load_terrain_config(FULL), load_terrain_config(COARSE)
    assert coarse.cell_m == 500
    a, b = OmegaConf.to_container(full), OmegaConf.to_container(coarse)
    a.pop("cell_m"), b.pop("cell_m"), a.pop("name"), b.pop("name")
    assert a == b


def test_hydra_compose_of_coarse_preset(tmp_path):
    from hydra import compose, initialize_config_dir

    shutil.copytree(CONFIGS, tmp_path / "terrain")
    (tmp_path / "config.yaml").write_text("defaults:\n  - terrain: qarachogh_coarse\n  - _self_\n")
    with initialize_config_dir(version_base="1.3", config_dir=str(tmp_path)):
        cfg = compose(config_name="config")
    assert cfg.terrain.cell_m == 500
    assert terrain_key(cfg.terrain, 4.0) == terrain_key(load_terrain_config(COARSE), 4.0)


# ---------------------------------------------------------------------------------------------
# Builder


def test_layers_have_grid_shape_and_types(coarse):
    assert coarse.shape == (100, 130)
    assert set(coarse.layers) == set(LAYER_NAMES)
    expected = {
        "elevation_m": np.float32,
        "slope_deg": np.float32,
        "ruggedness_m": np.float32,
        "cover": np.float32,
        "cave": np.bool_,
        "landuse": np.int8,
        "truffle": np.bool_,
        "road": np.bool_,
        "river": np.bool_,
        "settlement_id": np.int16,
        "zone": np.int8,
        "gap": np.bool_,
        "pmf_sector": np.bool_,
        "dist_pesh_line_km": np.float32,
        "dist_iraqi_line_km": np.float32,
        "signed_dist_km": np.float32,
    }
    for name, arr in coarse.layers.items():
        assert arr.shape == (coarse.width, coarse.height), name
        assert arr.dtype == expected[name], name
        assert not arr.flags.writeable, name
    cover = coarse.layers["cover"]
    assert cover.min() >= 0.0 and cover.max() <= 1.0
    assert set(np.unique(coarse.layers["landuse"])) <= {int(v) for v in LandUse}
    assert np.all(coarse.layers["landuse"][coarse.layers["truffle"]] == LandUse.STEPPE)


def test_build_is_deterministic(coarse_cfg):
    a, b = build_terrain(coarse_cfg, 4.0), build_terrain(coarse_cfg, 4.0)
    for name in LAYER_NAMES:
        np.testing.assert_array_equal(a.layers[name], b.layers[name], err_msg=name)
    np.testing.assert_array_equal(a.caves, b.caves)
    assert a.key == b.key == terrain_key(coarse_cfg, 4.0)
    other = build_terrain(with_changes(coarse_cfg, relief__noise_seed=7), 4.0)
    assert not np.array_equal(a.layers["elevation_m"], other.layers["elevation_m"])
    assert other.key != a.key


@pytest.mark.parametrize("preset", [COARSE, FULL])
def test_gap_area_scales_linearly_with_width(preset):
    """area(6 km) = 3 x area(2 km) within 10 %.

    The band is the set of points within ``g`` of the Peshmerga line on its SW side; with the lines
    crossing the whole map its area is ``g`` times the line's length inside the extent, plus
    corner terms of order ``g**2 * turning angle`` (the axis turns ~12 degrees: < 1 %) and a
    discretisation error of about one cell along each edge of the band (< 2 % at 500 m).
    """
    cfg = load_terrain_config(preset)
    terrains = {g: build_terrain(cfg, g) for g in (2.0, 4.0, 6.0)}
    area = {g: t.area_km2(t.layers["gap"]) for g, t in terrains.items()}
    assert area[6.0] / area[2.0] == pytest.approx(3.0, rel=0.10)
    assert area[4.0] / area[2.0] == pytest.approx(2.0, rel=0.10)


def test_zones_partition_the_grid(coarse):
    zone, sd, gap = coarse.layers["zone"], coarse.layers["signed_dist_km"], coarse.layers["gap"]
    assert set(np.unique(zone)) == {int(z) for z in Zone}
    assert sum(int(np.count_nonzero(zone == z)) for z in Zone) == coarse.width * coarse.height
    np.testing.assert_array_equal(gap, zone == Zone.GAP)
    not_camp = zone != Zone.CAMP
    assert np.all((zone == Zone.RIDGE) == ((sd >= 0) & not_camp))
    assert np.all((zone == Zone.PLAIN) == ((sd <= -coarse.gap_width_km) & not_camp))
    assert np.all(coarse.layers["pmf_sector"] <= (zone == Zone.PLAIN))
    camp = next(s for s in coarse.settlements if s.kind == "camp")
    assert np.all(coarse.layers["settlement_id"][zone == Zone.CAMP] == camp.id)


def test_zero_gap_has_no_gap_cells(coarse_cfg):
    t = build_terrain(coarse_cfg, 0.0)
    assert not t.layers["gap"].any()
    assert not np.any(t.layers["zone"] == Zone.GAP)
    np.testing.assert_array_equal(t.layers["dist_pesh_line_km"], t.layers["dist_iraqi_line_km"])


def test_lines_cross_the_whole_extent(coarse):
    x0, x1, y0, y1 = coarse.extent_km
    for line in (coarse.pesh_line_km, coarse.iraqi_line_km):
        for end in (line[0], line[-1]):
            on_edge = np.isclose(end[0], [x0, x1]).any() or np.isclose(end[1], [y0, y1]).any()
            assert on_edge, end
    # The Iraqi line is gap_width_km SW of the Peshmerga line.
    ix, iy = coarse.to_cell(coarse.iraqi_line_km[:, 0], coarse.iraqi_line_km[:, 1])
    sd = coarse.layers["signed_dist_km"][ix, iy]
    assert np.all(np.abs(sd + coarse.gap_width_km) < coarse.cell_km)


def test_named_places_and_settlements_inside_extent(coarse):
    assert coarse.places
    for name, (x, y) in coarse.places.items():
        assert coarse.contains_km(x, y), name
    ids = coarse.layers["settlement_id"]
    for s in coarse.settlements:
        assert coarse.contains_km(s.x_km, s.y_km), s.name
        assert (s.ix, s.iy) == coarse.to_cell(s.x_km, s.y_km)
        assert ids[s.ix, s.iy] == s.id, s.name
        assert 0 <= s.kurd + s.sunni_arab <= 1
    town = next(s for s in coarse.settlements if s.name == "makhmour")
    assert town.pop == 23828 and town.market
    assert coarse.layers["zone"][town.ix, town.iy] == Zone.PLAIN


def test_caves_lie_on_the_ridge_mostly_sw(coarse, coarse_cfg):
    caves = coarse.caves
    assert caves.shape[1] == 2 and len(caves) >= 40
    x, y = coarse.to_km(caves[:, 0], caves[:, 1])
    above = coarse.layers["elevation_m"][caves[:, 0], caves[:, 1]] - regional_plain(
        x, y, parse_terrain(coarse_cfg).relief
    )
    assert np.all(above > 40.0), above.min()
    crest_offset = float(coarse_cfg.lines.peshmerga.offset_km)
    sw = coarse.layers["signed_dist_km"][caves[:, 0], caves[:, 1]] < -crest_offset
    assert sw.mean() >= 0.6
    assert coarse.layers["cave"].sum() == len(caves)
    assert not coarse.layers["river"][caves[:, 0], caves[:, 1]].any()


def test_roads_are_connected_cell_chains(coarse):
    names = {r.name for r in coarse.roads}
    assert {"erbil_road", "gwer_road", "qaraj_road", "ridge_pass"} <= names
    for road in coarse.roads:
        steps = np.abs(np.diff(road.cells, axis=0)).max(axis=1)
        assert np.all(steps == 1), road.name
        assert coarse.layers["road"][road.cells[:, 0], road.cells[:, 1]].all()
        assert not coarse.layers["river"][road.cells[:, 0], road.cells[:, 1]].any(), road.name


def test_river_is_a_barrier_except_at_crossings(coarse):
    river = coarse.layers["river"]
    eight = np.ones((3, 3), dtype=bool)
    _, open_parts = ndimage.label(~river, structure=eight)
    x, y = coarse.places["gwer_bridge"]
    ix, iy = coarse.to_cell(x, y)
    closed = river.copy()
    closed[max(ix - 3, 0) : ix + 4, max(iy - 3, 0) : iy + 4] |= (
        coarse.layers["landuse"][max(ix - 3, 0) : ix + 4, max(iy - 3, 0) : iy + 4] == LandUse.RIVER
    )
    _, closed_parts = ndimage.label(~closed, structure=eight)
    assert open_parts == 1
    assert closed_parts >= 2  # without the bridge the NW bank is cut off, even diagonally


def test_to_cell_and_to_km_round_trip(coarse):
    ix = np.array([0, 10, coarse.width - 1])
    iy = np.array([0, 50, coarse.height - 1])
    x, y = coarse.to_km(ix, iy)
    jx, jy = coarse.to_cell(x, y)
    np.testing.assert_array_equal(jx, ix)
    np.testing.assert_array_equal(jy, iy)
    assert coarse.to_km(0, 0) == (-22.0 + 0.25, -35.0 + 0.25)
    assert coarse.to_cell(0.0, 0.0) == (44, 70)
    assert coarse.extent_km == (-22.0, 28.0, -35.0, 30.0)
    assert coarse.cell_area_km2 == 0.25


def test_get_terrain_caches_per_key(coarse_cfg):
    clear_terrain_cache()
    a = get_terrain(coarse_cfg, 4.0)
    assert get_terrain(coarse_cfg, 4.0) is a
    assert get_terrain(OmegaConf.to_object(coarse_cfg), 4.0) is a  # TerrainConfig instance
    assert get_terrain(coarse_cfg, 3.0) is not a
    clear_terrain_cache()


def test_save_and_load_npz(coarse, tmp_path):
    path = coarse.save_npz(tmp_path / "run" / "terrain.npz")
    back = Terrain.load_npz(path)
    for name in LAYER_NAMES:
        np.testing.assert_array_equal(back.layers[name], coarse.layers[name])
        assert back.layers[name].dtype == coarse.layers[name].dtype
    assert back.settlements == coarse.settlements
    assert back.places == coarse.places
    assert [r.name for r in back.roads] == [r.name for r in coarse.roads]
    for a, b in zip(back.roads, coarse.roads, strict=True):
        np.testing.assert_array_equal(a.cells, b.cells)
    np.testing.assert_array_equal(back.caves, coarse.caves)
    np.testing.assert_allclose(back.iraqi_line_km, coarse.iraqi_line_km)
    assert (back.key, back.gap_width_km, back.extent_km) == (coarse.key, 4.0, coarse.extent_km)
    assert back.crs_wkt == coarse.crs_wkt and back.to_lonlat(3.0, 4.0) == coarse.to_lonlat(3.0, 4.0)
    assert set(back.zones_km) == {"ridge", "gap", "plain"}
    for name, poly in coarse.zones_km.items():
        assert back.zones_km[name].equals_exact(poly, 0.0), name


# ---------------------------------------------------------------------------------------------
# DEM files


def north_up_raster(t: Terrain) -> tuple[np.ndarray, list[float]]:
    """The elevation layer as an image-order raster (row 0 = north) and its km transform."""
    x0, _, _, y1 = t.extent_km
    arr = np.flipud(np.asarray(t.layers["elevation_m"], dtype=np.float64).T)
    return arr, [t.cell_km, 0.0, x0, 0.0, -t.cell_km, y1]


def npy_cfg(cfg, path: str, transform):
    return with_changes(cfg, dem={"source": "npy", "path": path, "transform": list(transform)})


def test_npy_dem_round_trip(coarse, coarse_cfg, tmp_path, monkeypatch):
    """Same grid: resampling reproduces the layer to float32 precision (1e-3 m).

    Half resolution: a 500 m cell centre lies where four 250 m pixels meet, so bilinear
    resampling returns their mean exactly (again within 1e-3 m).
    """
    monkeypatch.chdir(tmp_path)
    arr, transform = north_up_raster(coarse)
    np.save(tmp_path / "dem.npy", arr)
    back = build_terrain(npy_cfg(coarse_cfg, "dem.npy", transform), 4.0)
    np.testing.assert_allclose(back.layers["elevation_m"], coarse.layers["elevation_m"], atol=1e-3)

    fine = build_terrain(with_changes(coarse_cfg, cell_m=250), 4.0)
    arr, transform = north_up_raster(fine)
    np.save(tmp_path / "fine.npy", arr)
    down = build_terrain(npy_cfg(coarse_cfg, "fine.npy", transform), 4.0)
    e = np.asarray(fine.layers["elevation_m"], dtype=np.float64)
    block_mean = e.reshape(100, 2, 130, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(down.layers["elevation_m"], block_mean, atol=1e-3)
    assert down.key != coarse.key


def _raises_config_error(cfg, key: str) -> str:
    with pytest.raises(ConfigError) as info:
        build_terrain(cfg, 4.0)
    text = str(info.value)
    assert key in text and "\n" not in text, text
    return text


@pytest.mark.parametrize(
    ("name", "array", "needle"),
    [
        ("nan.npy", np.full((10, 10), np.nan), "NaN"),
        ("cube.npy", np.zeros((4, 4, 4)), "2-D"),
        ("empty.npy", np.zeros((0, 7)), "empty"),
        ("bool.npy", np.zeros((10, 10), dtype=bool), "real numbers"),
    ],
)
def test_bad_npy_arrays_raise(coarse_cfg, tmp_path, monkeypatch, name, array, needle):
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / name, array)
    text = _raises_config_error(
        npy_cfg(coarse_cfg, name, [6, 0, -23, 0, -7, 31]), "terrain.dem.path"
    )
    assert needle in text


def test_dem_not_covering_extent_raises(coarse, coarse_cfg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    arr, transform = north_up_raster(coarse)
    np.save(tmp_path / "dem.npy", arr)
    transform[2] += 3.0  # shifted 3 km east: the west edge of the model is no longer covered
    text = _raises_config_error(npy_cfg(coarse_cfg, "dem.npy", transform), "terrain.dem.transform")
    assert "does not cover" in text


@pytest.mark.parametrize(
    ("transform", "needle"),
    [([1, 0, 0, 0, -1], "six finite numbers"), ([1, 2, 0, 2, 4, 0], "singular")],
)
def test_bad_transform_raises(coarse_cfg, tmp_path, monkeypatch, transform, needle):
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "dem.npy", np.zeros((5, 5)))
    text = _raises_config_error(npy_cfg(coarse_cfg, "dem.npy", transform), "terrain.dem.transform")
    assert needle in text


def test_missing_and_disallowed_dem_paths_raise(coarse_cfg, tmp_path, monkeypatch):
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir(), elsewhere.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("GAPSIM_DATA_DIR", raising=False)
    transform = [0.5, 0, -22, 0, -0.5, 30]
    assert "not found" in _raises_config_error(
        npy_cfg(coarse_cfg, "nope.npy", transform), "terrain.dem.path"
    )
    np.save(elsewhere / "dem.npy", np.zeros((130, 100)))
    outside = str(elsewhere / "dem.npy")
    assert "must lie inside" in _raises_config_error(
        npy_cfg(coarse_cfg, outside, transform), "terrain.dem.path"
    )
    assert "must lie inside" in _raises_config_error(
        npy_cfg(coarse_cfg, "../elsewhere/dem.npy", transform), "terrain.dem.path"
    )
    monkeypatch.setenv("GAPSIM_DATA_DIR", str(elsewhere))
    assert (
        build_terrain(npy_cfg(coarse_cfg, outside, transform), 4.0).layers["elevation_m"].max() == 0
    )
    assert ".npy" in _raises_config_error(
        npy_cfg(coarse_cfg, "dem.txt", transform), "terrain.dem.path"
    )


def test_geotiff_without_rasterio_names_the_extra(coarse_cfg, monkeypatch):
    monkeypatch.setitem(sys.modules, "rasterio", None)  # as if the extra were not installed
    cfg = with_changes(coarse_cfg, dem={"source": "geotiff", "path": "dem.tif"})
    assert "geotiff extra" in _raises_config_error(cfg, "terrain.dem.source")


# ---------------------------------------------------------------------------------------------
# Config checks


def test_config_error_is_one_line():
    err = ConfigError("terrain.cell_m", 0.0, "must be between 50 and 1000 (metres)")
    assert str(err) == "terrain.cell_m=0.0: must be between 50 and 1000 (metres)"
    assert isinstance(err, ValueError)


def test_validate_rejects_zero_cell_size(coarse_cfg):
    with pytest.raises(ConfigError) as info:
        validate_terrain(with_changes(coarse_cfg, cell_m=0), 4.0)
    assert str(info.value) == "terrain.cell_m=0: must be between 50 and 1000 (metres)"


def test_validate_rejects_place_outside_extent(coarse_cfg):
    cfg = with_changes(coarse_cfg)
    cfg.places[0].at_km = [40.0, 0.0]
    with pytest.raises(
        ConfigError, match=r"^terrain\.places\[0\]\.at_km=\[40\.0, 0\.0\]: must lie inside"
    ):
        validate_terrain(cfg, 4.0)
    cfg = with_changes(coarse_cfg)
    cfg.settlements[1].at_km = [0.0, -50.0]
    with pytest.raises(ConfigError, match=r"terrain\.settlements\[1\]\.at_km"):
        validate_terrain(cfg, 4.0)


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"x_max_km": -30.0}, "terrain.x_max_km"),
        ({"cell_m": 5000}, "terrain.cell_m"),
        ({"cell_m": "abc"}, "terrain.cell_m"),
        ({"relief__ridges": []}, "terrain.relief.ridges"),
        ({"dem__source": "lidar"}, "terrain.dem.source"),
        ({"lines__peshmerga__follow": "zagros"}, "terrain.lines.peshmerga.follow"),
    ],
)
def test_validate_rejects_bad_values(coarse_cfg, changes, key):
    with pytest.raises(ConfigError) as info:
        validate_terrain(with_changes(coarse_cfg, **changes), 4.0)
    assert str(info.value).startswith(key), str(info.value)


def test_validate_rejects_bad_shares_and_missing_keys(coarse_cfg):
    cfg = with_changes(coarse_cfg)
    cfg.settlements[0].kurd = 0.9
    with pytest.raises(ConfigError, match=r"settlements\[0\]\.kurd\+sunni_arab=1\.1: .*at most 1"):
        validate_terrain(cfg, 4.0)
    cfg = with_changes(coarse_cfg)
    cfg.settlements[2].sunni_arab = -0.1
    with pytest.raises(ConfigError, match=r"settlements\[2\]\.sunni_arab"):
        validate_terrain(cfg, 4.0)
    cfg = with_changes(coarse_cfg)
    del cfg.settlements[3]["pop"]
    with pytest.raises(ConfigError, match=r"terrain\.settlements\[3\]\.pop=None: required"):
        validate_terrain(cfg, 4.0)
    with pytest.raises(ConfigError, match=r"terrain\.grid"):
        validate_terrain(
            OmegaConf.merge(OmegaConf.to_container(coarse_cfg), {"grid": {"cell_m": 1}}), 4.0
        )


@pytest.mark.parametrize("gap", [-1.0, float("nan"), 60.0])
def test_validate_rejects_bad_gap_width(coarse_cfg, gap):
    with pytest.raises(ConfigError, match=r"^gap_width_km="):
        validate_terrain(coarse_cfg, gap)


@pytest.mark.parametrize(
    ("edit", "line"),
    [
        (
            lambda c: c.relief.ridges[0].ravines.update({"foo": 1}),
            "terrain.relief.ridges[0].ravines.foo=1: unknown key; allowed: count, depth_m, "
            "length_km, sw_share, width_km",
        ),
        (
            lambda c: c.settlements[2].update({"market": "yes"}),
            "terrain.settlements[2].market='yes': true or false",
        ),
        (
            lambda c: c.settlements[4].update({"name": "makhmour"}),
            "terrain.settlements[4].name='makhmour': settlement names must be unique",
        ),
        (
            lambda c: c.roads[1].update({"polyline_km": [[0, 0], [1, "a"]]}),
            "terrain.roads[1].polyline_km=[[0, 0], [1, 'a']]: a list of at least 2 points "
            "[x_km, y_km] (numbers within +-10000 km)",
        ),
        (
            lambda c: c.truffle_grounds[0].update({"polygon_km": [[0, 0], [2, 2], [2, 0], [0, 2]]}),
            "terrain.truffle_grounds[0].polygon_km=[[0.0, 0.0], [2.0, 2.0], [2.0, 0.0], [0.0, 2.0]]: "
            "a simple "
            "polygon: edges must not cross (Self-intersection[1 1])",
        ),
        (
            lambda c: c.lines.peshmerga.update({"offset_km": 60.0}),
            "terrain.lines.peshmerga.offset_km=60.0: the Peshmerga line must cross the map (it "
            "misses the extent)",
        ),
        (
            lambda c: c.update(
                {"roads": [{"name": "far", "polyline_km": [[100, 100], [101, 100]]}]}
            ),
            "terrain.roads=['far']: at least one road must cross the map (drivers and vehicle "
            "patrols use roads)",
        ),
    ],
)
def test_schema_and_geometry_errors_are_one_exact_line(coarse_cfg, edit, line):
    cfg = with_changes(coarse_cfg)
    edit(cfg)
    with pytest.raises(ConfigError) as info:
        validate_terrain(cfg, 4.0)
    assert str(info.value) == line


def test_largest_gap_is_reported_exactly(coarse_cfg):
    """The limit in the message is where the Iraqi line leaves the map: a gap just below it
    builds, one just above is refused."""
    with pytest.raises(ConfigError, match=r"must be below ([\d.]+) km") as info:
        validate_terrain(coarse_cfg, 60.0)
    limit = float(info.value.allowed.split("below ")[1].split(" km")[0])
    t = build_terrain(coarse_cfg, limit - 0.1)
    assert len(t.iraqi_line_km) >= 2 and t.zones_km["plain"].area > 0
    with pytest.raises(ConfigError):
        validate_terrain(coarse_cfg, limit + 0.1)
