"""`gapsim animate`: one replicate of a scenario as a GIF of agents and incidents over the map."""

from __future__ import annotations

from omegaconf import DictConfig

from sim.commands.common import guarded, output_dir, save_config
from sim.config.load import resolved_dict, to_config


@guarded
def animate_task(cfg: DictConfig) -> int:
    config = to_config(cfg)
    from sim.analysis.animate import record, render
    from sim.app import view

    out_dir = output_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    save_config(resolved_dict(cfg), out_dir)
    replicate = int(config.extra.get("replicate", 0))
    every = int(config.extra.get("every_days", 2))
    model = view.build_model(config, replicate=replicate)
    recording = record(model, every_days=max(1, every))
    path = render(view.terrain(model), recording, out_dir / "animation.gif",
                  title=f"{config.scenario.name}: replicate {replicate}, gap "
                        f"{config.gap_width_km:g} km, coordination {config.coordination}")
    print(f"animation: {path} ({len(recording.frames)} frames)")
    return 0
