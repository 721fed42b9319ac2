"""The Mesa grid with the terrain's layers, built once per process and terrain, reused per model.

Why: building a 200 x 260 ``OrthogonalMooreGrid`` costs about half a second and 65 MB, more than a
replicate's own set-up. The grid and its static PropertyLayers depend only on the terrain, so each
worker process builds them once; a new model takes the grid after every agent of the previous
model has been taken off it, and re-seeds the grid's own Random in place.

Layer access goes through ``layer_array`` so that Mesa 4 (where a layer *is* the array) needs one
change here.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import numpy as np
from mesa.discrete_space import OrthogonalMooreGrid, PropertyLayer

if TYPE_CHECKING:
    import mesa

    from sim.terrain.builder import Terrain

#: Terrain layers attached to the Mesa grid (the rest stay in ``terrain.layers``).
GRID_LAYERS: tuple[str, ...] = (
    "elevation_m", "cover", "zone", "gap", "road", "river", "truffle", "settlement_id",
)

_GRIDS: dict[int, tuple[Terrain, OrthogonalMooreGrid, random.Random, list]] = {}


def layer_array(grid: OrthogonalMooreGrid, name: str) -> np.ndarray:
    """The numpy array behind a PropertyLayer (Mesa 3: ``.data``)."""
    return getattr(grid, name).data


def build_grid(terrain: Terrain, shared_random: random.Random) -> OrthogonalMooreGrid:
    """A new non-torus Moore grid with the terrain's static layers attached."""
    grid = OrthogonalMooreGrid((terrain.width, terrain.height), torus=False, capacity=None,
                               random=shared_random)
    for name in GRID_LAYERS:
        data = terrain.layers[name]
        if data.dtype == bool:
            data = data.astype(np.int8)
        grid.add_property_layer(PropertyLayer.from_data(name, np.array(data)))
    return grid


def attach_grid(model: mesa.Model, terrain: Terrain, private: bool = False) -> OrthogonalMooreGrid:
    """A cleared grid for ``terrain``, seeded from ``model.random``, owned by ``model`` now.

    Args:
        private: build a grid of this model's own instead of taking the per-process shared one
            (needed when several models live at once, e.g. one per dashboard session).
    """
    if private:
        own_random = random.Random(model.random.getrandbits(64))
        return build_grid(terrain, own_random)
    hit = _GRIDS.get(id(terrain))
    if hit is None or hit[0] is not terrain:
        if len(_GRIDS) >= 4:
            _GRIDS.clear()
        shared_random = random.Random()
        grid = build_grid(terrain, shared_random)
        hit = (terrain, grid, shared_random, [])
        _GRIDS[id(terrain)] = hit
    _, grid, shared_random, owners = hit
    for old in owners:  # take the previous model's agents off the cells
        release(old)
    owners.clear()
    owners.append(model)
    shared_random.seed(model.random.getrandbits(64))
    return grid


def release(model: mesa.Model) -> None:
    """Remove every agent of a finished model from the grid it shares."""
    for agent in list(model.agents):
        agent.remove()
