"""docs/ODD.md stays true to the code: the parameter table, parameter metadata, the scenario list."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from sim.model.odd_table import (
    MARKERS,
    extract_block,
    parameter_table_markdown,
    replace_block,
    scenario_files,
)
from sim.model.params import COORDINATION_LEVELS, ModelParams, param_fields

ODD = Path(__file__).resolve().parents[1] / "docs" / "ODD.md"
REGENERATE = "uv run python -m sim.model.odd_table --write docs/ODD.md"


@pytest.fixture(scope="module")
def odd_text() -> str:
    assert ODD.is_file(), f"{ODD} is missing"
    return ODD.read_text(encoding="utf-8")


def test_parameter_table_matches_code(odd_text: str) -> None:
    block = extract_block(odd_text, "params")
    begin, end = MARKERS["params"]
    assert block is not None, f"docs/ODD.md lacks the markers {begin} ... {end}"
    assert block == parameter_table_markdown().strip(), (
        "the parameter table in docs/ODD.md differs from sim.model.params.ModelParams; "
        f"run `{REGENERATE}`"
    )


@pytest.mark.parametrize("f", param_fields(), ids=lambda f: f.name)
def test_every_parameter_is_documented(f) -> None:
    meta = f.metadata
    for key in ("unit", "source", "doc"):
        assert isinstance(meta.get(key), str) and meta[key].strip(), f"{f.name}: no {key}"
    default = getattr(ModelParams(), f.name)
    if meta.get("names"):  # a list of names (model.ablate), checked against its own registry
        assert default == [], f"{f.name}: a name list defaults to empty"
        return
    lo, hi = meta["range"]
    assert lo <= hi, f"{f.name}: range ({lo}, {hi}) is empty"
    values = default if isinstance(default, list) else [default]
    if isinstance(default, list):
        assert len(values) == len(COORDINATION_LEVELS), f"{f.name}: needs one value per level"
    for v in values:
        assert math.isfinite(v) and lo <= v <= hi, f"{f.name}: default {v} outside [{lo}, {hi}]"


def test_every_scenario_is_in_the_scenario_table(odd_text: str) -> None:
    block = extract_block(odd_text, "scenarios")
    assert block is not None, "docs/ODD.md lacks the scenario table markers"
    named = set(re.findall(r"^\|\s*`([^`]+)`", block, flags=re.MULTILINE))
    files = scenario_files()
    assert files, "no scenario files found"
    missing = sorted(p.stem for p in files if p.stem not in named)
    assert not missing, (
        f"scenarios missing from docs/ODD.md section 8: {missing}; run `{REGENERATE}`"
    )


def test_replace_block_round_trip() -> None:
    begin, end = MARKERS["params"]
    text = f"before\n{begin}\nold\n{end}\nafter\n"
    new = replace_block(text, "params", "new table")
    assert extract_block(new, "params") == "new table"
    assert new.startswith("before\n") and new.endswith(f"{end}\nafter\n")
    with pytest.raises(ValueError):
        replace_block("no markers", "params", "x")
