"""Generated tables of docs/ODD.md: model parameters, top-level run keys and scenarios.

Why generate them: the ODD description must show the parameters the code actually uses. Every
``ModelParams`` field carries its range, unit, source and meaning as field metadata, so the table is
built from that metadata and written between marker comments in ``docs/ODD.md``; a test compares
the two, so the document cannot drift from the code. The run-key table takes its defaults from
``sim.config.schema.Config`` and its allowed values from the messages ``validate_config`` raises
(one source of truth); the scenario table is read from ``configs/scenario/*.yaml``.

Usage::

    uv run python -m sim.model.odd_table                        # print the parameter table
    uv run python -m sim.model.odd_table --write docs/ODD.md    # refresh every marked block
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sim.model.params import COORDINATION_LEVELS, ModelParams, param_fields

#: Marker pairs in docs/ODD.md, by block name.
MARKERS: dict[str, tuple[str, str]] = {
    "params": ("<!-- params:begin -->", "<!-- params:end -->"),
    "config": ("<!-- config:begin -->", "<!-- config:end -->"),
    "scenarios": ("<!-- scenarios:begin -->", "<!-- scenarios:end -->"),
}

PARAM_HEADER = ("name", "default", "range", "unit", "meaning", "source or estimate")

#: Meaning of the top-level run keys (the schema has no field metadata for them; ranges and
#: defaults are read from code, only these descriptions live here).
RUN_KEY_DOCS: dict[str, str] = {
    "scenario": "named policy scenario (configs/scenario/); sets posture, timeline, start date",
    "terrain": "terrain preset (configs/terrain/)",
    "executor": "where replicates run (configs/executor/)",
    "gap_width_km": "distance between the Peshmerga line and the Iraqi line (km)",
    "coordination": "coordination level between the forces (fractional numbers interpolate)",
    "replicates": "Monte Carlo replicates per configuration",
    "seed": "root seed of every random stream",
    "days": "simulated days per replicate",
    "workers": "worker processes (0: all cores)",
    "crn": "common random numbers across scenarios (paired comparisons)",
    "retry_failed": "rerun replicates that failed in an earlier attempt",
    "precision": "target relative CI half-width for adding replicates (null: fixed count)",
    "min_replicates": "replicates before the precision rule may stop",
    "max_replicates": "ceiling on replicates under the precision rule",
    "progress": "show a progress bar",
    "debug": "full tracebacks instead of one-line errors",
    "extra": "free-form mapping for experiments (not read by the model)",
}

#: Config fields that are config groups rather than plain keys, with how to read the default name.
_GROUPS: dict[str, Callable[[Any], str]] = {
    "scenario": lambda cfg: cfg.scenario.name,
    "terrain": lambda cfg: cfg.terrain.name,
    "executor": lambda cfg: cfg.executor.name,
}


# -- formatting ------------------------------------------------------------------------------
def _num(x: Any) -> str:
    """A number as written in the tables (ints as is, floats in shortest %g form)."""
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        return f"{x:g}"
    if x is None:
        return "null"
    return str(x)


def _cell(text: Any) -> str:
    """Escape a value for a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _row(cells: Iterable[Any]) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _table(header: tuple[str, ...], rows: list[list[Any]]) -> list[str]:
    return [_row(header), "|" + "---|" * len(header), *(_row(r) for r in rows)]


_LEVEL_SUFFIX = " (" + ", ".join(COORDINATION_LEVELS) + ")"


# -- the parameter table -----------------------------------------------------------------------
def _sections() -> dict[str, str]:
    """Field name -> section title, from the ``# --- title ---`` comments in ModelParams."""
    try:
        source = inspect.getsource(ModelParams)
    except (OSError, TypeError):  # pragma: no cover - source not available (frozen builds)
        return {}
    out: dict[str, str] = {}
    title = ""
    for line in source.splitlines():
        head = re.match(r"\s*#\s*-{3,}\s*(.+?)\s*-{3,}\s*$", line)
        if head:
            text = head.group(1)
            title = text[:1].upper() + text[1:]
            continue
        name = re.match(r"\s{4}(\w+)\s*:", line)
        if name and title:
            out[name.group(1)] = title
    return out


def parameter_rows() -> list[tuple[str, list[Any]]]:
    """(section, row) for every ModelParams field, in declaration order."""
    sections = _sections()
    defaults = ModelParams()
    rows = []
    for f in param_fields():
        meta = f.metadata
        value = getattr(defaults, f.name)
        lo, hi = meta["range"]
        doc = str(meta["doc"])
        if meta.get("names"):
            rows.append((sections.get(f.name, "Parameters"),
                         [f"`{f.name}`", "[]", "mechanism names", meta["unit"], doc, meta["source"]]))
            continue
        if isinstance(value, list):
            default = " / ".join(_num(v) for v in value)
            if doc.endswith(_LEVEL_SUFFIX):
                doc = doc[: -len(_LEVEL_SUFFIX)]
            doc += " (per level)"
        else:
            default = _num(value)
        row = [
            f"`{f.name}`",
            default,
            f"[{_num(lo)}, {_num(hi)}]",
            meta["unit"],
            doc,
            meta["source"],
        ]
        rows.append((sections.get(f.name, "Parameters"), row))
    return rows


def parameter_table_markdown() -> str:
    """The Markdown parameter table of ``ModelParams`` (one sub-table per section).

    Per-coordination-level parameters show their five values in the order
    none / liaison / jcc / joint_ops / joint_brigades.
    """
    lines: list[str] = []
    current: str | None = None
    block: list[list[Any]] = []

    def flush() -> None:
        if current is not None:
            if lines:
                lines.append("")
            lines.extend([f"**{current}**", ""])
            lines.extend(_table(PARAM_HEADER, block))

    for section, row in parameter_rows():
        if section != current:
            flush()
            current, block = section, []
        block.append(row)
    flush()
    return "\n".join(lines)


# -- the run-key table ------------------------------------------------------------------------
def config_table_markdown() -> str:
    """Top-level run keys: default from ``Config``, allowed values from ``validate_config``."""
    from sim.config.keys import allowed_text
    from sim.config.load import options
    from sim.config.schema import Config

    cfg = Config()
    rows: list[list[Any]] = []
    for f in dataclasses.fields(Config):
        type_name = str(f.type)
        if f.name in _GROUPS:
            default = _GROUPS[f.name](cfg)
            allowed = "one of " + ", ".join(options(f.name))
        elif f.name == "model":
            rows.append(
                [
                    "`model.<name>`",
                    "see the parameter table",
                    "see the parameter table",
                    "any behavioural parameter, e.g. model.tick_hours=1",
                ]
            )
            continue
        else:
            value = getattr(cfg, f.name)
            default = _num(value) if not isinstance(value, dict) else "{}"
            allowed = allowed_text(cfg, f.name, type_name)
        rows.append([f"`{f.name}`", default, allowed, RUN_KEY_DOCS.get(f.name, "")])
    return "\n".join(_table(("key", "default", "allowed", "meaning"), rows))


# -- the scenario table -------------------------------------------------------------------------
def scenario_files() -> list[Path]:
    """Every scenario file, sorted by name."""
    from sim.config.load import CONFIG_DIR

    return sorted((CONFIG_DIR / "scenario").glob("*.yaml"))


def scenario_table_markdown() -> str:
    """One row per ``configs/scenario/*.yaml``: posture, coordination, gap, dates, timeline."""
    from omegaconf import OmegaConf

    from sim.config.schema import Config

    base = Config()
    rows: list[list[Any]] = []
    for path in scenario_files():
        data = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
        assert isinstance(data, dict)
        sc = data.get("scenario") or {}
        posture = sc.get("posture") or {}
        pos = ", ".join(
            f"{z} {posture.get(z, getattr(base.scenario.posture, z))}"
            for z in ("ridge", "gap", "plain", "pmf_sector")
        )
        events = []
        for ev in sc.get("timeline") or []:
            change = ", ".join(f"{k} {v}" for k, v in (ev.get("posture") or {}).items())
            if ev.get("coordination") is not None:
                change = ", ".join(x for x in (change, f"coordination {ev['coordination']}") if x)
            events.append(f"{ev.get('date', '')}: {ev.get('label', '')} ({change})")
        rows.append(
            [
                f"`{path.stem}`",
                pos,
                data.get("coordination", base.coordination),
                _num(data.get("gap_width_km", base.gap_width_km)),
                sc.get("start_date", base.scenario.start_date),
                _num(data.get("days", base.days)),
                _num(bool(sc.get("links_intact", base.scenario.links_intact))),
                "; ".join(events) or "none",
            ]
        )
    header = (
        "scenario",
        "posture (holder per zone)",
        "coordination",
        "gap_width_km",
        "start date",
        "days",
        "links_intact",
        "timeline",
    )
    return "\n".join(_table(header, rows))


# -- writing docs/ODD.md ------------------------------------------------------------------------
BLOCKS: dict[str, Callable[[], str]] = {
    "params": parameter_table_markdown,
    "config": config_table_markdown,
    "scenarios": scenario_table_markdown,
}


def extract_block(text: str, name: str) -> str | None:
    """The text between a block's markers (stripped), or None when the markers are missing."""
    begin, end = MARKERS[name]
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < i:
        return None
    return text[i + len(begin) : j].strip()


def replace_block(text: str, name: str, body: str) -> str:
    """``text`` with the block between a marker pair replaced by ``body``."""
    begin, end = MARKERS[name]
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < i:
        raise ValueError(f"markers {begin} ... {end} not found")
    return text[: i + len(begin)] + "\n" + body + "\n" + text[j:]


def write_doc(path: str | Path) -> list[str]:
    """Refresh every marked block present in ``path`` (the params block is required).

    Returns:
        names of the blocks whose content changed.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if extract_block(text, "params") is None:
        begin, end = MARKERS["params"]
        raise ValueError(f"{path}: markers {begin} ... {end} not found")
    changed = []
    for name, make in BLOCKS.items():
        old = extract_block(text, name)
        if old is None:
            continue
        body = make()
        if old != body.strip():
            changed.append(name)
        text = replace_block(text, name, body)
    path.write_text(text, encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sim.model.odd_table",
        description="Print the ODD parameter table, or refresh the marked tables in a file.",
    )
    parser.add_argument(
        "--write",
        metavar="FILE",
        help="replace the blocks between <!-- params:begin/end --> (and the "
        "config/scenarios markers, if present) in FILE",
    )
    args = parser.parse_args(argv)
    if args.write is None:
        print(parameter_table_markdown())
        return 0
    try:
        changed = write_doc(args.write)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{args.write}: " + (f"updated {', '.join(changed)}" if changed else "up to date"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
