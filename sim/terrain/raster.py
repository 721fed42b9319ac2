"""Vector geometry sampled on the model grid: step three of building a terrain.

Why: agents read the terrain through per-cell numpy arrays. This module turns shapely geometries
(:mod:`sim.terrain.geometry`) into such arrays with shapely's vectorised predicates and
measures, evaluated at the cell centres: masks (a cell belongs to a polygon when its centre
does), distances and signed distances to lines, positions along a line, discs around points, and
the ordered chains of cells a road or a river passes through. Nothing here decides what a line
or a zone *is*; it only asks shapely where the cells lie.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import shapely
from shapely import LineString
from shapely.geometry.base import BaseGeometry

from sim.terrain.geometry import clipped
from sim.terrain.grid import Grid


class Cells:
    """The grid's cell centres as shapely points, with the measures layers are made of.

    Every method returns an array of the grid's shape ``(width, height)``.
    """

    def __init__(self, grid: Grid) -> None:
        self.grid = grid
        self.x, self.y = grid.mesh_km()

    @cached_property
    def points(self) -> np.ndarray:
        """Cell centres as an array of shapely points."""
        return shapely.points(self.x, self.y)

    def mask(self, geom: BaseGeometry | None) -> np.ndarray:
        """Cells whose centre lies in ``geom`` (its boundary included)."""
        if geom is None or geom.is_empty:
            return np.zeros(self.grid.shape, dtype=bool)
        shapely.prepare(geom)
        return shapely.intersects_xy(geom, self.x, self.y)

    def distance(self, geom: BaseGeometry) -> np.ndarray:
        """Distance (km) from each cell centre to ``geom``."""
        return shapely.distance(geom, self.points)

    def signed_distance(self, geom: BaseGeometry, positive_side: BaseGeometry) -> np.ndarray:
        """Distance to ``geom``, positive where the centre lies in ``positive_side``."""
        d = self.distance(geom)
        return np.where(self.mask(positive_side), d, -d)

    def along(self, line: LineString) -> np.ndarray:
        """Arc length (km, from the line's start) of the point of ``line`` nearest each centre."""
        return shapely.line_locate_point(line, self.points)

    def within(self, x_km: float, y_km: float, r_km: float) -> np.ndarray:
        """Cells whose centre lies within ``r_km`` of a point."""
        return shapely.dwithin(shapely.Point(x_km, y_km), self.points, r_km)


def cell_chains(line: LineString, grid: Grid, *, four_connected: bool = False) -> list[np.ndarray]:
    """Ordered chains of the cells a line passes through, one per piece inside the grid.

    The cells are found exactly: the line is cut where it crosses the grid lines (shapely's
    intersection), and each cut piece lies in one cell. Consecutive cells then share an edge
    (4-connected, which a barrier such as a river needs so that no diagonal move slips
    through), except where the line passes exactly through a grid corner; there
    ``four_connected`` adds the cell on the x side of the corner. With ``four_connected=False`` (roads), a cell the line only clips at a corner
    (less than a quarter of a cell of line inside it) is dropped wherever its neighbours in the
    chain touch diagonally, so chains are 8-connected and roads keep their length in cells.

    Returns:
        int arrays of shape ``(k, 2)`` holding ``(ix, iy)``, in the line's direction.
    """
    x0, x1, y0, y1 = grid.extent_km
    extent = shapely.box(x0, y0, x1, y1)
    chains = []
    for piece in clipped(line, extent):
        cells, lengths = _crossed_cells(piece, grid)
        if four_connected:
            cells = _fill_corners(cells)
        else:
            cells = _thin_corners(cells, lengths, grid.cell_km / 4.0)
        if len(cells):
            chains.append(cells)
    return chains


def _grid_lines(grid: Grid, bounds: tuple[float, float, float, float]) -> np.ndarray:
    """The grid's interior cell edges that cross a bounding box ``(x0, y0, x1, y1)``."""
    gx0, gx1, gy0, gy1 = grid.extent_km
    bx0, by0, bx1, by1 = bounds
    xs = grid.x_min_km + np.arange(1, grid.width) * grid.cell_km
    ys = grid.y_min_km + np.arange(1, grid.height) * grid.cell_km
    xs, ys = xs[(xs >= bx0) & (xs <= bx1)], ys[(ys >= by0) & (ys <= by1)]
    lines = [[(x, gy0), (x, gy1)] for x in xs] + [[(gx0, y), (gx1, y)] for y in ys]
    return shapely.linestrings(lines) if lines else np.zeros(0, dtype=object)


def _crossed_cells(piece: LineString, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Cells of one piece in order, and the length of the piece inside each (km)."""
    coords = np.asarray(piece.coords)
    cells, lengths = [], []
    for a, b in zip(coords[:-1], coords[1:], strict=True):
        seg = LineString([a, b])
        if seg.length == 0:
            continue
        hits = shapely.get_coordinates(shapely.intersection(seg, _grid_lines(grid, seg.bounds)))
        s = np.unique(np.concatenate([[0.0, seg.length], seg.project(shapely.points(hits))]))
        step = np.diff(s)
        keep = step > 1e-12
        mids = shapely.line_interpolate_point(seg, ((s[:-1] + s[1:]) / 2)[keep])
        xy = shapely.get_coordinates(mids)
        ix, iy = grid.to_cell(xy[:, 0], xy[:, 1])
        cells.append(np.stack([ix, iy], axis=1))
        lengths.append(step[keep])
    if not cells:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0)
    return _merge_repeats(np.vstack(cells).astype(np.int64), np.concatenate(lengths))


def _merge_repeats(cells: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Collapse runs of the same cell, summing the lengths inside it."""
    new = np.ones(len(cells), dtype=bool)
    new[1:] = np.any(cells[1:] != cells[:-1], axis=1)
    run = np.cumsum(new) - 1
    return cells[new], np.bincount(run, weights=lengths)


def _fill_corners(cells: np.ndarray) -> np.ndarray:
    """Insert a cell wherever a chain steps diagonally (a line through a grid corner)."""
    diag = np.flatnonzero(np.all(np.diff(cells, axis=0) != 0, axis=1))
    if diag.size == 0:
        return cells
    corner = np.stack([cells[diag + 1, 0], cells[diag, 1]], axis=1)
    return np.insert(cells, diag + 1, corner, axis=0)


def _thin_corners(cells: np.ndarray, lengths: np.ndarray, min_km: float) -> np.ndarray:
    """Drop clipped corner cells whose chain neighbours touch diagonally (8-connected chains)."""
    kept: list[int] = []
    for i in range(len(cells)):
        if 0 < i < len(cells) - 1 and kept and lengths[i] < min_km:
            prev, nxt = cells[kept[-1]], cells[i + 1]
            if np.abs(prev - nxt).max() == 1:
                continue
        kept.append(i)
    out = cells[kept]
    same = np.zeros(len(out), dtype=bool)
    same[1:] = np.all(out[1:] == out[:-1], axis=1)
    return out[~same]
