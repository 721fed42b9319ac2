"""Bounded, safe reading of every YAML file gapsim is given (config groups, studies, saved configs).

Why a gate in front of the YAML parsers: a config file is input like any other. A YAML alias bomb
(anchors nested a few levels, each repeating the last ten times) parses into a small graph of
shared nodes, but OmegaConf then copies every path through it: depth 5 took 42 s and depth 9 never
finished. A multi-megabyte or binary file, a ``${oc.env:...}`` or a tag that names a Python object
are the other ways a copied file can hang, leak or crash a command. So a file is read here first,
within limits (size on disk, nodes after alias expansion, nesting depth), and every problem becomes
one ``ConfigError`` line naming the file, where in it, and how to fix it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from sim.errors import ConfigError

#: Largest YAML file gapsim reads (bytes). The largest shipped one, the terrain, is about 8 kB.
MAX_YAML_BYTES = 1_000_000

#: Most nodes a YAML document may hold once its aliases are expanded (keys, values, list items).
#: The shipped terrain file has 666; a saved run config (all settings resolved) about 1,000.
MAX_YAML_NODES = 100_000

#: Deepest nesting of mappings and lists (a saved run config reaches 8).
MAX_YAML_DEPTH = 40

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_checked_yaml(path: str | os.PathLike[str], what: str = "config file") -> str:
    """The text of a YAML file that passed the limits (size, UTF-8, one document, expansion).

    Args:
        path: the file.
        what: how the fix is phrased ("config file", "study file", ...).

    Raises:
        ConfigError: keyed by the file path; the value says where, the rest what to do.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as err:
        raise ConfigError(str(path), "unreadable", f"cannot read this {what} ({err.strerror})") from None
    if size > MAX_YAML_BYTES:
        raise ConfigError(str(path), f"{size / 1e6:.1f} MB",
                          f"a {what} is at most {MAX_YAML_BYTES / 1e6:g} MB; shorten it")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ConfigError(str(path), "unreadable", f"cannot read this {what} ({err.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(str(path), f"byte {err.start}",
                          f"not a text file (UTF-8); a {what} is YAML text: restore or replace "
                          f"it") from None  # fmt: skip
    check_yaml_text(text, str(path), what)
    return text


def check_yaml_text(text: str, name: str, what: str = "config file") -> None:
    """Parse ``text`` to its node graph (no objects built) and check it stays within the limits."""
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as err:
        raise yaml_error(err, name, what) from None
    except RecursionError:
        raise ConfigError(name, "nesting", f"nested too deeply; a {what} nests at most "
                                           f"{MAX_YAML_DEPTH} levels") from None  # fmt: skip
    if root is not None:
        _count_nodes(root, name, what)


def _count_nodes(root: yaml.Node, name: str, what: str) -> int:
    """Nodes after alias expansion, counted without expanding (each shared node sized once)."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node, depth: int) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        where = f"line {node.start_mark.line + 1}"
        if key in open_nodes:
            raise ConfigError(name, where, f"an alias refers to itself; a {what} cannot hold a "
                                           f"recursive alias: remove it")  # fmt: skip
        if depth > MAX_YAML_DEPTH:
            raise ConfigError(name, where, f"nested more than {MAX_YAML_DEPTH} levels deep; "
                                           f"flatten the {what}")  # fmt: skip
        open_nodes.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child, depth + 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k, depth + 1) + size(v, depth + 1) for k, v in node.value)
        open_nodes.discard(key)
        if total > MAX_YAML_NODES:
            raise ConfigError(name, where, f"expands to more than {MAX_YAML_NODES:,} values "
                                           f"through its aliases (&/*): a {what} needs no alias "
                                           f"bomb; write the values out")  # fmt: skip
        sizes[key] = total
        return total

    return size(root, 0)


def yaml_error(err: yaml.YAMLError, name: str | None = None, what: str = "config file") -> ConfigError:
    """One line from a PyYAML error: the file, the line and column, the problem, the fix."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    shown = name or getattr(mark, "name", None) or what
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
    problem = (getattr(err, "problem", None) or getattr(err, "context", None)
               or (str(err).strip().splitlines() or [type(err).__name__])[0])  # fmt: skip
    if "python/" in str(err) or "constructor for the tag" in str(problem):
        problem = f"{problem}; tags that build Python objects are not allowed"
    return ConfigError(str(shown), where, f"not valid YAML ({problem}); fix the {what}")


def load_yaml(path: str | os.PathLike[str], what: str = "config file") -> Any:
    """A YAML file as plain Python data (safe loader), after ``read_checked_yaml``'s limits."""
    return load_yaml_text(path, what)[1]


def load_yaml_text(path: str | os.PathLike[str], what: str = "config file") -> tuple[str, Any]:
    """(text, data) of a YAML file that passed ``read_checked_yaml``'s limits."""
    text = read_checked_yaml(path, what)
    loader = _LOADER(text)  # a safe loader: plain data only
    try:
        return text, loader.get_single_data()
    except yaml.YAMLError as err:  # tags that name Python objects fail here, not in compose
        raise yaml_error(err, str(path), what) from None
    finally:
        loader.dispose()


def has_interpolation(data: Any) -> str | None:
    """The first string holding ``${...}`` (an OmegaConf interpolation or resolver), if any."""
    if isinstance(data, str):
        return data if "${" in data else None
    if isinstance(data, dict):
        items: list[Any] = [*data.keys(), *data.values()]
    elif isinstance(data, list):
        items = data
    else:
        return None
    for item in items:
        found = has_interpolation(item)
        if found is not None:
            return found
    return None


def load_saved_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A result directory's ``config.yaml`` (resolved values only) as a plain dict.

    gapsim writes this file with every value resolved and without Hydra's node, so anything else
    (interpolations such as ``${oc.env:X}``, a ``hydra`` block, a list, binary data) means it was
    edited or is not gapsim's; each is one ConfigError line naming the file.
    """
    fix = "restore the run's own config.yaml, or rerun the run"
    data = load_yaml(path, "saved config")
    if not isinstance(data, dict) or not data:
        kind = "empty" if data is None or data == {} else type(data).__name__
        raise ConfigError(str(path), kind, f"must be a mapping of settings; {fix}")
    found = has_interpolation(data)
    if found is not None:
        raise ConfigError(str(path), found, f"holds an interpolation, and gapsim saves resolved "
                                            f"values only: write the value itself, or {fix}")  # fmt: skip
    if "hydra" in data:
        raise ConfigError(str(path), "hydra", f"holds a hydra block, which gapsim never saves: "
                                              f"remove it, or {fix}")  # fmt: skip
    return {str(k): v for k, v in data.items()}
