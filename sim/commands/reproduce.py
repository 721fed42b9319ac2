"""`gapsim reproduce DIR`: rerun a finished run from its own config and seeds, compare tables."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from sim.errors import ConfigError


def reproduce_command(args: list[str]) -> int:
    """Exit 0 printing "identical", or 1 naming what differs."""
    if len(args) != 1:
        raise ConfigError("reproduce", " ".join(args), "takes exactly one result directory")
    run_dir = Path(args[0])
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError("reproduce", str(run_dir), "must be a gapsim result directory with config.yaml")
    from sim.config.load import config_from_dict
    from sim.config.yaml_files import load_saved_config
    from sim.engine.experiment import run_from_config
    from sim.engine.reproduce import reproduce

    config = load_saved_config(run_dir / "config.yaml")  # bounded, safe, resolved values only
    try:
        config_from_dict(config)  # validate before any work
    except ConfigError as err:
        raise ConfigError(err.key, err.value, f"{err.allowed} (in {run_dir / 'config.yaml'})") from None

    def rerun(cfg: dict[str, Any], out: Path) -> object:
        return run_from_config(cfg, out, progress=False)

    diffs = reproduce(run_dir, rerun)
    if diffs:
        print("differs:", file=sys.stderr)
        for d in diffs:
            print(f"  {d}", file=sys.stderr)
        return 1
    print(f"identical: {run_dir} reproduces exactly from its config.yaml")
    return 0
