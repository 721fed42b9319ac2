"""The study file (``experiments/*.yaml``) as a typed schema.

Why: a study file is edited by hand, and a sweep that fails after an hour because a figure names
a factor that does not exist wastes the hour. :func:`parse_study_file` checks everything that
the file alone can tell -- unknown keys, types and ranges, designs with their own settings,
factors given as ranges, values or levels, outcomes and figures that fit the design -- and
reports the first problem as one :class:`~sim.errors.ConfigError` line naming the key, before
anything runs. Whether a factor's key exists in the configuration, and whether its range is
allowed there, is checked later against the composed config
(:func:`sim.experiments.study.plan_study`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from sim.config.spec import Flag, Spec, num, validate_spec, whole
from sim.errors import ConfigError

DESIGNS: tuple[str, ...] = ("full_factorial", "lhs", "nolh", "sobol", "morris")
FIGURES: tuple[str, ...] = ("heatmap", "lines", "sobol", "morris", "effects", "scatter")
NOISE: tuple[str, ...] = ("realisation", "average")
REALISATION = "realisation"
#: Columns the engine writes that a factor name must not take.
RESERVED = ("scenario", "design_point", "replicate", "run_id", REALISATION)
#: Designs each figure kind can be drawn from.
FIGURE_DESIGNS: dict[str, tuple[str, ...]] = {
    "heatmap": ("full_factorial",),
    "lines": ("full_factorial",),
    "sobol": ("sobol",),
    "morris": ("morris",),
    "effects": ("full_factorial", "lhs", "nolh"),
    "scatter": DESIGNS,
}
#: Smallest design size (``n``, ``trajectories`` or steps) of each design.
MIN_SIZE = {"full_factorial": 2, "lhs": 2, "nolh": 3, "sobol": 2, "morris": 2}

Number = Annotated[float, Field(strict=True, allow_inf_nan=False, description="a number")]
Seed = whole(0, 2**63 - 1, "a seed: a whole number")
Noise = Literal["realisation", "average"]


def _mapping_of(key: str) -> Any:
    """A before-validator turning a bare name (``design: lhs``) into ``{key: name}``."""

    def wrap(value: Any) -> Any:
        return {key: value} if isinstance(value, str) else value

    return wrap


class FullFactorial(Spec):
    type: Literal["full_factorial"]


class Lhs(Spec):
    type: Literal["lhs"]
    n: whole(2, 10**7, "a number of runs") | None = None
    seed: Seed | None = None


class Nolh(Spec):
    type: Literal["nolh"]
    n: whole(3, 10**7, "a number of runs") | None = None
    seed: Seed | None = None


class Sobol(Spec):
    type: Literal["sobol"]
    n: whole(2, 10**7, "a power of 2 (e.g. 8, 16, 64, 256)") = 64
    seed: Seed | None = None
    second_order: Flag = False
    noise: Noise = "realisation"
    resamples: whole(10, 10**6) = 500


class Morris(Spec):
    type: Literal["morris"]
    trajectories: whole(2, 10**7, "a number of trajectories") = 10
    levels: whole(2, 1000) = 4
    seed: Seed | None = None
    noise: Noise = "realisation"
    resamples: whole(10, 10**6) = 500


Design = Annotated[FullFactorial | Lhs | Nolh | Sobol | Morris, Field(discriminator="type")]


class FactorSpec(Spec):
    """One varied input: a ``range`` (with ``steps`` for a factorial), ``values``, ``levels`` or
    a ``dummy`` (a factor that changes nothing, to measure the noise floor of an analysis)."""

    range: (
        Annotated[
            list[Number], Field(min_length=2, max_length=2, description="a range [low, high]")
        ]
        | None
    ) = None
    steps: whole(2, 10_000, "a number of steps") | None = None
    values: Annotated[list[Number], Field(min_length=1, description="a list of numbers")] | None = (
        None
    )
    levels: (
        Annotated[list[Any], Field(min_length=1, description="a list of distinct levels")] | None
    ) = None
    name: Annotated[str, Field(strict=True, min_length=1)] | None = None
    scale: Literal["linear", "log"] = "linear"
    dummy: Flag = False

    @model_validator(mode="after")
    def _one_kind(self) -> FactorSpec:
        if self.levels is not None:
            if len(set(map(str, self.levels))) != len(self.levels):
                raise ConfigError("levels", self.levels, "a list of distinct levels")
            if self.range is not None or self.steps is not None or self.values is not None:
                raise ConfigError("", self.model_dump(exclude_defaults=True),
                                  "give levels or a range, not both")  # fmt: skip
            return self
        if self.dummy:
            return self
        rng = self.range
        if rng is None and self.values:
            rng = [min(self.values), max(self.values)]
        if rng is None:
            raise ConfigError("range", None, "a range [low, high], levels or values")
        low, high = rng
        if not low < high and not (self.values and low == high):
            raise ConfigError("range", rng, "low must be below high")
        if self.scale == "log" and low <= 0:
            raise ConfigError("range", rng, "a log scale needs low > 0")
        return self

    @property
    def bounds(self) -> tuple[float, float]:
        """``(low, high)`` of a ranged factor (the values' span when only values are given)."""
        rng = self.range or [min(self.values or [0.0]), max(self.values or [0.0])]
        return float(rng[0]), float(rng[1])


class FigureSpec(Spec):
    """A figure: ``kind`` plus the factors on its axes (heatmap: x, y; lines: x, by)."""

    kind: Literal["heatmap", "lines", "sobol", "morris", "effects", "scatter"]
    x: str | None = None
    y: str | None = None
    by: str | None = None
    outcomes: list[str] = []

    @model_validator(mode="after")
    def _axes_fit_the_kind(self) -> FigureSpec:
        wanted = _AXES.get(self.kind, ())
        for axis in ("x", "y", "by"):
            if axis not in wanted and getattr(self, axis) is not None:
                allowed = ", ".join(("kind", *wanted, "outcomes"))
                raise ConfigError(axis, getattr(self, axis), f"unknown key; allowed: {allowed}")
        return self


class StudyFile(Spec):
    """A whole study file."""

    name: str | None = None
    description: str = ""
    base: dict[str, Any] = {}
    factors: Annotated[
        dict[str, FactorSpec],
        Field(min_length=1, description="a mapping of config keys to ranges or levels"),
    ]
    design: Design
    replicates: whole(1, 100_000, "a number of replicates") | None = None
    precision: num(0, 1, gt=True) | None = None
    min_replicates: whole(2, 100_000) | None = None
    max_replicates: whole(2, 100_000) | None = None
    outcomes: list[str] = []
    figures: list[FigureSpec] = []

    @field_validator("design", mode="before")
    @classmethod
    def _bare_design(cls, value: Any) -> Any:
        return _mapping_of("type")(value)

    @field_validator("figures", mode="before")
    @classmethod
    def _bare_figures(cls, value: Any) -> Any:
        return [_mapping_of("kind")(v) for v in value] if isinstance(value, list) else value

    @model_validator(mode="after")
    def _consistent(self) -> StudyFile:
        kind = self.design.type
        names = []
        for key, f in self.factors.items():
            name = f.name or key
            if name in RESERVED:
                raise ConfigError(f"factors.{key}.name", name,
                                  "clashes with an output column; give the factor another name")  # fmt: skip
            if name in names:
                raise ConfigError(f"factors.{key}.name", name, "two factors have this name")
            names.append(name)
            if f.dummy and kind == "full_factorial":
                raise ConfigError(f"factors.{key}", f.model_dump(exclude_defaults=True),
                                  "a dummy factor needs a sampled design")  # fmt: skip
            if f.values is not None and kind != "full_factorial":
                raise ConfigError(f"factors.{key}.values", f.values,
                                  "explicit values suit full_factorial only; give a range")  # fmt: skip
            if kind == "full_factorial" and not (f.levels or f.steps or f.values or f.dummy):
                raise ConfigError(f"factors.{key}", f.model_dump(exclude_defaults=True),
                                  "full_factorial needs steps, values or levels")  # fmt: skip
        for key in self.base:
            if key in names or key in self.factors:
                raise ConfigError(f"base.{key}", self.base[key], "is also a factor")
        if kind == "lhs" and self.design.n is None:
            raise ConfigError("design.n", None, "a Latin hypercube needs its number of runs")
        if kind == "sobol" and self.design.n & (self.design.n - 1):
            raise ConfigError("design.n", self.design.n,
                              "Sobol sampling needs a power of 2 (e.g. 8, 16, 64, 256)")  # fmt: skip
        noise = getattr(self.design, "noise", None)
        if kind == "sobol" and noise == "average" and self.precision is not None:
            raise ConfigError("precision", self.precision,
                              "Sobol needs every design point at the same replicate count; "
                              "use replicates")  # fmt: skip
        for i, fig in enumerate(self.figures):
            if kind not in FIGURE_DESIGNS[fig.kind]:
                needs = " or ".join(FIGURE_DESIGNS[fig.kind])
                raise ConfigError(
                    f"figures[{i}].kind", fig.kind, f"needs a {needs} design, not {kind}"
                )
            axes = {a: getattr(fig, a) for a in ("x", "y", "by") if a in _AXES.get(fig.kind, ())}
            for axis, value in axes.items():
                if value not in names:
                    raise ConfigError(f"figures[{i}].{axis}", value,
                                      f"must name a factor: {', '.join(names)}")  # fmt: skip
            if len(set(axes.values())) != len(axes):
                raise ConfigError(f"figures[{i}]", fig.model_dump(exclude_defaults=True),
                                  "the axes must be different factors")  # fmt: skip
        return self


_AXES = {"heatmap": ("x", "y"), "lines": ("x", "by")}


def parse_study_file(data: Any, where: str, outcomes: tuple[str, ...]) -> StudyFile:
    """Validate a loaded study file; outcome names are checked against ``outcomes``.

    Raises:
        ConfigError: the first problem, its message ending with ``where`` (the file).
    """
    if not isinstance(data, dict):
        raise ConfigError(
            "experiment", data, f"a study file is a mapping (see docs/SWEEPS.md) {where}"
        )
    study = validate_spec(StudyFile, data, "", where)
    for key, f in study.factors.items():
        if (f.name or key) in outcomes:
            raise ConfigError(f"factors.{key}.name", f.name or key,
                              f"clashes with an output column; give the factor another name {where}")  # fmt: skip
    for key, names in [("outcomes", study.outcomes)] + [
        (f"figures[{i}].outcomes", f.outcomes) for i, f in enumerate(study.figures)
    ]:
        for name in names:
            if name not in outcomes:
                raise ConfigError(
                    key, name, f"unknown outcome; one of {', '.join(outcomes)} {where}"
                )
    return study


def design_size(study: StudyFile, size: int | None) -> int | None:
    """The design's size: its own (``n``/``trajectories``) or the command line's ``design_size``.

    Raises:
        ConfigError: a ``design_size`` below the design's minimum, not a power of 2 for Sobol,
            or given for a full factorial without a stepped factor.
    """
    kind = study.design.type
    own = getattr(study.design, "trajectories" if kind == "morris" else "n", None)
    if size is None:
        return own
    if isinstance(size, bool) or not isinstance(size, int) or size < MIN_SIZE[kind]:
        raise ConfigError("design_size", size, f"must be a whole number >= {MIN_SIZE[kind]}")
    if kind == "sobol" and size & (size - 1):
        raise ConfigError(
            "design_size", size, "Sobol sampling needs a power of 2 (e.g. 8, 16, 64, 256)"
        )
    if kind == "full_factorial" and not any(f.steps for f in study.factors.values()):
        raise ConfigError(
            "design_size", size, "this full factorial has no factor with steps to refine"
        )
    return size
