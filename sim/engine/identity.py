"""Identities: what a replicate's results depend on, hashed into ids that resume can trust.

Why: resume skips a replicate whose results are on disk, so the id under which they are stored
must change whenever anything they depend on changes -- not only the resolved configuration, but
also the *content* of every file the configuration names (a DEM, a calibration posterior) and the
model's behaviour (its ``MODEL_VERSION``). Otherwise a rerun after the DEM changed would mix
replicates of two terrains in one table.

* A **point hash** (16 hex digits) covers one configuration: the config without execution-only
  keys, the SHA-256 of each input file it names, and the model version.
* A **run id** (16 hex digits) is one replicate of one point: ``sha(point_hash/replicate)``, so
  planning 10^5 replicates costs 10^5 short hashes, not 10^5 canonical JSON dumps of the config.

Which config values name input files: any non-empty string under a key called ``path`` or ending
in ``_path`` or ``_file`` (``terrain.dem.path``, a future ``calibration.posterior_path``). New
inputs are covered by naming their keys that way; no list here needs updating.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

#: Top-level config keys that change how a run executes, never what it computes; they are left
#: out of run ids so that more replicates, another worker count or executor resume a run.
EXECUTION_ONLY: frozenset[str] = frozenset(
    {
        "replicates",
        "workers",
        "executor",
        "retry_failed",
        "precision",
        "min_replicates",
        "max_replicates",
        "debug",
        "progress",
        "hydra",
        "experiment",
        "design_size",
        "scenarios",
        "baseline",
        "extra",
    }
)

#: Key names whose string values name input files (their content is hashed into run ids).
INPUT_KEY_NAMES: frozenset[str] = frozenset({"path"})
INPUT_KEY_SUFFIXES: tuple[str, ...] = ("_path", "_file")

#: Bytes read at a time while hashing an input file.
_CHUNK_BYTES = 1 << 20


def model_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config without execution-only keys (what determines a replicate's results)."""
    return {k: v for k, v in config.items() if k not in EXECUTION_ONLY}


def _canonical(obj: Any) -> Any:
    """JSON-ready form with one spelling per value (``4.0`` and ``4`` are the same number)."""
    if isinstance(obj, Mapping):
        return {str(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_canonical(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        obj = obj.item()
    if isinstance(obj, float) and math.isfinite(obj) and obj.is_integer():
        return int(obj)
    if isinstance(obj, str | int | float | bool) or obj is None:
        return obj
    return str(obj)


def canonical_json(obj: Any) -> str:
    """Deterministic JSON (sorted keys, no whitespace) for hashing."""
    return json.dumps(_canonical(obj), sort_keys=True, separators=(",", ":"))


def sha16(text: str) -> str:
    """The first 16 hex digits of SHA-256 (64 bits: collisions are not a practical concern)."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def config_hash(config: Mapping[str, Any]) -> str:
    """16 hex digits identifying a configuration alone (no inputs, no version): duplicate check."""
    return sha16(canonical_json(model_config(config)))


# ----------------------------------------------------------------------------------- inputs


def _is_input_key(key: str) -> bool:
    return key in INPUT_KEY_NAMES or key.endswith(INPUT_KEY_SUFFIXES)


def _walk(node: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    if isinstance(node, Mapping):
        for k, v in node.items():
            yield from _walk(v, f"{prefix}.{k}" if prefix else str(k))
    else:
        yield prefix, node


def input_files(config: Mapping[str, Any]) -> dict[str, Path]:
    """Input files a config names, by dotted key, as absolute paths (relative to the cwd)."""
    out: dict[str, Path] = {}
    for key, value in _walk(model_config(config), ""):
        if isinstance(value, str) and value.strip() and _is_input_key(key.rpartition(".")[2]):
            path = Path(value).expanduser()
            out[key] = path if path.is_absolute() else Path.cwd() / path
    return out


@functools.lru_cache(maxsize=256)
def _digest(path: str, size: int, mtime_ns: int, inode: int) -> str:
    """SHA-256 of a file, cached per (path, size, mtime, inode): a sweep hashes its DEM once."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK_BYTES), b""):
            h.update(chunk)
    return h.hexdigest()


def file_digest(path: Path) -> str | None:
    """SHA-256 of a file's content, or None when there is no such file."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not os.path.isfile(path):
        return None
    return _digest(str(path), st.st_size, st.st_mtime_ns, st.st_ino)


def input_digests(config: Mapping[str, Any]) -> dict[str, dict[str, str | None]]:
    """``{dotted key: {"path": absolute path, "sha256": hex or None if absent}}``."""
    return {
        key: {"path": str(path), "sha256": file_digest(path)}
        for key, path in input_files(config).items()
    }


# ------------------------------------------------------------------------------ model version


def _runner_module(path: str) -> str:
    """The module part of a ``module:function`` (or ``module.function``) path."""
    module, sep, _ = path.partition(":")
    return module if sep else path.rpartition(".")[0]


def model_version(runner: str) -> str | None:
    """``MODEL_VERSION`` of the runner's module or of the nearest package above it.

    For the real runner ``sim.model.runner:run_replicate`` that is ``sim.model.MODEL_VERSION``.
    A runner without one (None) still gets ids that cover its config and inputs.
    """
    name = _runner_module(runner)
    while name:
        module = importlib.import_module(name)
        version = getattr(module, "MODEL_VERSION", None)
        if version is not None:
            return str(version)
        name = name.rpartition(".")[0]
    return None


# -------------------------------------------------------------------------------------- ids


def point_hash(
    config: Mapping[str, Any],
    version: str | None,
    inputs: Mapping[str, Mapping[str, str | None]] | None = None,
) -> str:
    """16 hex digits covering a configuration, the content of its input files and the model.

    Args:
        config: resolved config (execution-only keys are ignored).
        version: the model version (``model_version(runner)``).
        inputs: precomputed ``input_digests(config)`` (computed when None).
    """
    digests = input_digests(config) if inputs is None else inputs
    return sha16(
        canonical_json(
            {
                "config": model_config(config),
                "inputs": {k: v["sha256"] for k, v in digests.items()},
                "model_version": version,
            }
        )
    )


def job_id(point: str, replicate: int) -> str:
    """16 hex digits identifying one replicate of one point (stored in every row as run_id)."""
    return sha16(f"{point}/{int(replicate)}")


def run_id(config: Mapping[str, Any], replicate: int, version: str | None = None) -> str:
    """The run id of one replicate of a configuration (``job_id(point_hash(...), replicate)``)."""
    return job_id(point_hash(config, version), replicate)
