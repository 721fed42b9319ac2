"""Figure text large enough for a slide, and the colours of a verdict.

Why: a report figure is projected in a workshop room and printed on a handout. Matplotlib's
defaults (10 pt on a 6-inch figure) shrink to unreadable text once a wide figure is scaled onto a
slide, so every analysis figure is drawn under :func:`slide_style` (13-15 pt text).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import matplotlib

#: rcParams of every analysis figure.
SLIDE_RC: dict[str, object] = {
    "font.size": 13,
    "axes.titlesize": 14,
    "axes.labelsize": 13,
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "legend.fontsize": 12,
    "legend.title_fontsize": 12,
    "figure.titlesize": 15,
    "axes.titleweight": "normal",
}

#: Colour of each verdict in figures (Okabe-Ito: colour-blind safe).
VERDICT_COLOURS: dict[str, str] = {
    "better": "#009E73",
    "worse": "#D55E00",
    "changed": "#0072B2",
    "unclear": "#777777",
}


@contextlib.contextmanager
def slide_style() -> Iterator[None]:
    """Draw figures created inside the block with slide-sized text."""
    with matplotlib.rc_context(SLIDE_RC):
        yield
