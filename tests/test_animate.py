"""`gapsim animate`: a short replicate renders to a GIF with one frame per snapshot."""

from __future__ import annotations

from PIL import Image

from sim.cli import main


def test_animation_gif_has_frames(tmp_path):
    out = tmp_path / "anim"
    code = main(["animate", "days=8", "terrain=qarachogh_coarse", "+extra.every_days=2",
                 f"hydra.run.dir={out}"])
    assert code == 0
    gif = Image.open(out / "animation.gif")
    assert gif.n_frames == 4
    assert gif.size[0] > 400
