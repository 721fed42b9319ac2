"""Shared fixtures: configurations on the coarse (500 m) terrain so the suite stays fast."""

from __future__ import annotations

import os
import time

import pytest

from sim.config.load import compose_config


def coarse(*overrides: str) -> dict:
    """A validated, resolved config on the 500 m terrain preset."""
    return compose_config(["terrain=qarachogh_coarse", *overrides])


@pytest.fixture
def coarse_config():
    return coarse


def group_gone(pgid: int, timeout: float = 10) -> bool:
    """Whether every process of a process group has exited (the forkserver follows its parent)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False
