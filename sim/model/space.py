"""The model's space: a Mesa grid of its own for every model, cheap to build, plus km <-> cell lookups.

Why a lazy grid: the default terrain has 52,000 cells of 250 m, and Mesa's ``OrthogonalMooreGrid``
builds a ``Cell`` object and eight connections for every one of them up front (about 0.9 s and 65 MB,
more than a simulated year costs). A model touches a few thousand of them: the cells where agents
stand. ``LazyMooreGrid`` is an ``OrthogonalMooreGrid`` whose cells are created on first access and
whose connections are computed on first use, so every model owns an independent grid (two models in
one process never share one) and building it costs microseconds. Everything Mesa offers still works:
``grid[(x, y)]``, ``cell.neighborhood``, property layers, ``CellAgent.cell``; asking for all cells
(``all_cells``, iteration, the dashboard's renderer) materialises the rest once.

Layer access goes through :func:`layer_array`, so Mesa 4 (where a property layer *is* the array)
needs one change here.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from functools import cached_property
from itertools import product
from random import Random
from typing import TYPE_CHECKING, Any

import numpy as np
from mesa.discrete_space import Cell, OrthogonalMooreGrid, PropertyLayer
from mesa.discrete_space.discrete_space import DiscreteSpace

if TYPE_CHECKING:
    from sim.terrain.builder import Terrain

#: Terrain layers attached to the Mesa grid as property layers (the rest stay in terrain.layers).
GRID_LAYERS: tuple[str, ...] = (
    "elevation_m", "cover", "zone", "gap", "road", "river", "truffle", "settlement_id",
)

_MOORE = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


class LazyCell(Cell):
    """A grid cell whose connections are computed the first time they are read."""

    __slots__ = ("_conn",)
    _grid: LazyMooreGrid  # set on the per-grid subclass

    @property
    def connections(self) -> dict[tuple[int, ...], Cell]:  # type: ignore[override]
        conn = self._conn
        if conn is None:
            conn = self._conn = self._grid._neighbours_of(self.coordinate)
        return conn

    @connections.setter
    def connections(self, value: dict[tuple[int, ...], Cell]) -> None:
        # Cell.__init__ assigns {}: keep "not computed yet" until something reads them.
        self._conn = value if value else None


class _LazyCells(dict):
    """Coordinate -> cell, creating a cell the first time its coordinate is asked for."""

    def __init__(self, grid: LazyMooreGrid) -> None:
        super().__init__()
        self._grid = grid

    def __missing__(self, coord: tuple[int, ...]) -> Cell:
        grid = self._grid
        coord = tuple(int(c) for c in coord)
        if len(coord) != 2 or not all(0 <= c < d for c, d in zip(coord, grid.dimensions, strict=True)):
            raise KeyError(coord)
        cell = grid.cell_klass(coord, capacity=grid.capacity, random=grid.random)
        self[coord] = cell
        return cell


class LazyMooreGrid(OrthogonalMooreGrid):
    """An ``OrthogonalMooreGrid`` (non-torus, 2-D) whose cells exist once they are used.

    Args:
        dimensions: ``(width, height)``.
        capacity: agents per cell (None: unlimited).
        random: the stdlib Random for Mesa's own helpers (the model's ``model.random``).
    """

    def __init__(self, dimensions: Sequence[int], capacity: float | None = None,
                 random: Random | None = None) -> None:
        # Grid.__init__ would build every cell; this does the same set-up without that loop.
        DiscreteSpace.__init__(self, capacity=capacity, random=random, cell_klass=LazyCell)
        self.torus = False
        self.dimensions = tuple(int(d) for d in dimensions)
        self._try_random = True
        self._ndims = len(self.dimensions)
        self._validate_parameters()
        if self._ndims != 2:
            raise ValueError("LazyMooreGrid is two-dimensional")
        self.cell_klass = type("GridCell", (LazyCell,),
                               {"_mesa_properties": set(), "__slots__": (), "_grid": self})
        self._cells = _LazyCells(self)
        self.create_property_layer("empty", default_value=True, dtype=bool)

    def _neighbours_of(self, coord: tuple[int, ...]) -> dict[tuple[int, ...], Cell]:
        i, j = coord
        w, h = self.dimensions
        return {(di, dj): self._cells[(i + di, j + dj)]
                for di, dj in _MOORE if 0 <= i + di < w and 0 <= j + dj < h}

    def _connect_cells(self) -> None:  # connections are lazy
        return None

    def _materialise(self) -> None:
        cells = self._cells
        for coord in product(*(range(d) for d in self.dimensions)):
            cells[coord]  # noqa: B018 - creates the cell

    @property
    def _celllist(self) -> list[Cell]:  # used by select_random_empty_cell
        self._materialise()
        return list(self._cells.values())

    @cached_property
    def all_cells(self):  # noqa: D102 - Mesa's semantics: every cell of the space
        self._materialise()
        return DiscreteSpace.all_cells.func(self)

    def __iter__(self) -> Iterator[Cell]:
        self._materialise()
        return iter(self._cells.values())


def layer_array(grid: OrthogonalMooreGrid, name: str) -> np.ndarray:
    """The numpy array behind a PropertyLayer (Mesa 3: ``.data``)."""
    return getattr(grid, name).data


def build_grid(terrain: Terrain, random: Random) -> LazyMooreGrid:
    """A new grid of the terrain's shape with its static layers attached (copies, so a model may
    change its own layers without touching the terrain's)."""
    grid = LazyMooreGrid((terrain.width, terrain.height), random=random)
    for name in GRID_LAYERS:
        data = terrain.layers[name]
        if data.dtype == bool:
            data = data.astype(np.int8)
        grid.add_property_layer(PropertyLayer.from_data(name, np.array(data)))
    return grid


class Frame:
    """km <-> cell conversions for one terrain, scalar and vectorised (the hot-path helpers).

    Args:
        terrain: the terrain whose grid geometry is used.
    """

    def __init__(self, terrain: Terrain) -> None:
        self.x0 = terrain.x_min_km
        self.y0 = terrain.y_min_km
        self.cell_km = terrain.cell_km
        self.inv_cell = 1.0 / terrain.cell_km
        self.wmax = terrain.width - 1
        self.hmax = terrain.height - 1

    def cell_of(self, x_km: float, y_km: float) -> tuple[int, int]:
        """Grid cell of one point (clipped to the grid)."""
        ix = math.floor((x_km - self.x0) * self.inv_cell)
        iy = math.floor((y_km - self.y0) * self.inv_cell)
        return min(max(ix, 0), self.wmax), min(max(iy, 0), self.hmax)

    def cells_of(self, x_km: Any, y_km: Any) -> tuple[np.ndarray, np.ndarray]:
        """Grid cells of many points (clipped to the grid)."""
        ix = np.floor((np.asarray(x_km) - self.x0) * self.inv_cell).astype(np.int64)
        iy = np.floor((np.asarray(y_km) - self.y0) * self.inv_cell).astype(np.int64)
        # maximum/minimum in place rather than np.clip: the same, with a fraction of its overhead
        np.minimum(np.maximum(ix, 0, out=ix), self.wmax, out=ix)
        np.minimum(np.maximum(iy, 0, out=iy), self.hmax, out=iy)
        return ix, iy

    def centre_km(self, ix: Any, iy: Any) -> tuple[Any, Any]:
        """Centre of cells in km."""
        return (self.x0 + (np.asarray(ix) + 0.5) * self.cell_km,
                self.y0 + (np.asarray(iy) + 0.5) * self.cell_km)
