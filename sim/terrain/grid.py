"""The model grid: cell size and extent in km of the local frame.

Why a module of its own: the grid is fixed by the configuration alone (extent and cell size),
and both the vector geometry (which it clips to the grid's outer edges) and the rasters (which
sample cell centres) need it. Layers are indexed ``[ix, iy]`` (Mesa's ``PropertyLayer``): ``ix``
along x (east), ``iy`` along y (north), cell ``(0, 0)`` in the SW corner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Grid:
    """Cell geometry of the model grid.

    Attributes:
        x_min_km: west edge of the grid.
        y_min_km: south edge of the grid.
        cell_km: cell side.
        width: number of cells along x (east).
        height: number of cells along y (north).
    """

    x_min_km: float
    y_min_km: float
    cell_km: float
    width: int
    height: int

    @classmethod
    def from_extent(
        cls, x_min_km: float, x_max_km: float, y_min_km: float, y_max_km: float, cell_km: float
    ) -> Grid:
        """A grid covering the extent with cells of ``cell_km`` (rounded to whole cells)."""
        width = max(1, round((x_max_km - x_min_km) / cell_km))
        height = max(1, round((y_max_km - y_min_km) / cell_km))
        return cls(float(x_min_km), float(y_min_km), float(cell_km), int(width), int(height))

    @classmethod
    def of(cls, spec: Any) -> Grid:
        """The grid of a :class:`~sim.terrain.spec.TerrainSpec`."""
        return cls.from_extent(*spec.extent_km, spec.cell_km)

    @property
    def shape(self) -> tuple[int, int]:
        """``(width, height)``."""
        return (self.width, self.height)

    @property
    def extent_km(self) -> tuple[float, float, float, float]:
        """``(x0, x1, y0, y1)`` of the grid's outer edges."""
        return (
            self.x_min_km,
            self.x_min_km + self.width * self.cell_km,
            self.y_min_km,
            self.y_min_km + self.height * self.cell_km,
        )

    @property
    def x_centres_km(self) -> np.ndarray:
        """Cell-centre x coordinates, shape ``(width,)``."""
        return self.x_min_km + (np.arange(self.width) + 0.5) * self.cell_km

    @property
    def y_centres_km(self) -> np.ndarray:
        """Cell-centre y coordinates, shape ``(height,)``."""
        return self.y_min_km + (np.arange(self.height) + 0.5) * self.cell_km

    def mesh_km(self) -> tuple[np.ndarray, np.ndarray]:
        """Cell-centre coordinate arrays ``(X, Y)``, each of shape ``(width, height)``."""
        return np.meshgrid(self.x_centres_km, self.y_centres_km, indexing="ij")

    def to_cell(self, x_km: Any, y_km: Any) -> tuple[Any, Any]:
        """Cell indices containing the points (clipped to the grid)."""
        ix = np.floor((np.asarray(x_km, dtype=float) - self.x_min_km) / self.cell_km)
        iy = np.floor((np.asarray(y_km, dtype=float) - self.y_min_km) / self.cell_km)
        ix = np.clip(ix, 0, self.width - 1).astype(np.int64)
        iy = np.clip(iy, 0, self.height - 1).astype(np.int64)
        if ix.ndim == 0:
            return int(ix), int(iy)
        return ix, iy
