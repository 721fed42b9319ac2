"""Shared fixtures: configurations on the coarse (500 m) terrain so the suite stays fast."""

from __future__ import annotations

import pytest

from sim.config.load import compose_config


def coarse(*overrides: str) -> dict:
    """A validated, resolved config on the 500 m terrain preset."""
    return compose_config(["terrain=qarachogh_coarse", *overrides])


@pytest.fixture
def coarse_config():
    return coarse
