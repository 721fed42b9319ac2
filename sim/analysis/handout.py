"""A one-page A4 handout of a comparison: the summary in words, the forest plot and the maps.

Why: a room without a projector still needs the result, on paper, on one page. Matplotlib's PDF
backend writes it without new dependencies. The text block is laid out first; the two figures
share the rest of the page, scaled to fit, so the handout stays one page however many scenarios
are compared (the text shrinks a step if it would take more than half the page).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.image import imread  # noqa: E402

A4_IN = (8.27, 11.69)
MARGIN_IN = 0.45
#: Text sizes tried, largest first (points).
FONT_SIZES = (8.0, 7.5, 7.0, 6.5, 6.0, 5.5)
#: The text shrinks until the figures keep at least this share of their full-width height.
MIN_FIGURE_SCALE = 0.85


def _lines(title: str, facts: Sequence[str], summary: Sequence[str], width: int) -> list[tuple[str, str]]:
    """(style, text) lines, wrapped to ``width`` characters."""
    out: list[tuple[str, str]] = [("title", title)]
    for fact in facts:
        out += [("fact", t) for t in textwrap.wrap(fact, width, subsequent_indent="  ")]
    out.append(("gap", ""))
    for block in summary:
        first, *rest = block.splitlines()
        out.append(("head", first))
        for line in rest:
            out += [("body", t) for t in textwrap.wrap(line.strip(), width,
                                                       initial_indent="  ",
                                                       subsequent_indent="      ")]  # fmt: skip
    return out


def write_handout(path: str | Path, *, title: str, facts: Sequence[str], summary: Sequence[str],
                  images: Sequence[Path], footer: str = "") -> Path:
    """Write ``path``: one A4 page with the text block on top and ``images`` below it."""
    path = Path(path)
    width_in, height_in = A4_IN
    usable_w = width_in - 2 * MARGIN_IN
    pics = [imread(p) for p in images]
    natural = sum(usable_w * p.shape[0] / p.shape[1] for p in pics) + 0.05 * len(pics)
    foot = textwrap.wrap(footer, int(usable_w * 72 / (5.5 * 0.5))) if footer else []
    foot_h = len(foot) * 5.5 * 1.3 / 72 + 0.05
    for size in FONT_SIZES:  # the largest text that leaves the figures most of their width
        chars = int(usable_w * 72 / (size * 0.5))
        lines = _lines(title, facts, summary, chars)
        line_in = size * 1.3 / 72
        text_h = sum(2.0 * line_in if k == "title" else (0.5 * line_in if k == "gap" else line_in)
                     for k, _ in lines)  # fmt: skip
        if height_in - 2 * MARGIN_IN - foot_h - text_h - 0.1 >= MIN_FIGURE_SCALE * natural:
            break
    fig = Figure(figsize=A4_IN)
    y = height_in - MARGIN_IN
    for style, text in lines:
        if style == "gap":
            y -= 0.5 * line_in
            continue
        kw = {"fontsize": size, "family": "DejaVu Sans"}
        if style == "title":
            kw.update(fontsize=size * 1.6, fontweight="bold")
        elif style == "head":
            kw.update(fontweight="bold")
        step = 2.0 * line_in if style == "title" else line_in
        fig.text(MARGIN_IN / width_in, (y - 0.8 * step) / height_in, text, va="baseline", **kw)
        y -= step
    bottom = MARGIN_IN + foot_h
    room = y - 0.1 - bottom
    aspects = [p.shape[0] / p.shape[1] for p in pics]
    natural_h = [usable_w * a for a in aspects]
    scale = min(1.0, (room - 0.05 * len(pics)) / max(sum(natural_h), 1e-9))
    for pic, h_nat in zip(pics, natural_h, strict=True):
        h = h_nat * scale
        w = h / (pic.shape[0] / pic.shape[1])
        y -= h
        ax = fig.add_axes(((width_in - w) / 2 / width_in, y / height_in, w / width_in,
                           h / height_in))  # fmt: skip
        ax.imshow(pic, interpolation="antialiased")
        ax.set_axis_off()
        y -= 0.05
    if foot:
        fig.text(MARGIN_IN / width_in, MARGIN_IN / height_in, "\n".join(foot), fontsize=5.5,
                 color="#555555", va="bottom", linespacing=1.3)  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    with PdfPages(path, metadata={"Title": title, "Creator": "gapsim"}) as pdf:
        pdf.savefig(fig)
    return path
