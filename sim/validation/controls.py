"""Negative controls: rerun each check's arms with its mechanism switched off, and classify.

Why: a pattern the model reproduces whatever its mechanisms do is built into its rules (or its
inputs) and says nothing about the world. A check counts as validation only if it holds in the
full model and *does not* hold when the mechanisms ``patterns.MECHANISM`` names for it are
ablated (``model.ablate=[...]``) -- "identifiable". If it still holds, it is "built in"; if it
does not hold in the full model, "not held"; if no switch exists for what produces it, "no
control". Only identifiable checks count.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from sim.validation.patterns import ARM_BY_LABEL, CHECKS, Check, Tables, evaluate, score

IDENTIFIABLE = "identifiable"
BUILT_IN = "built in"
NOT_HELD = "not held"
NO_CONTROL = "no control"


@dataclass(frozen=True)
class Run:
    """One arm to simulate: the base arm's label plus the mechanisms switched off."""

    arm: str
    ablate: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return self.arm if not self.ablate else f"{self.arm}|-{'+'.join(self.ablate)}"

    def overrides(self) -> list[str]:
        arm = ARM_BY_LABEL[self.arm]
        extra = [f"model.ablate=[{','.join(self.ablate)}]"] if self.ablate else []
        return [*arm.overrides, *extra, f"days={arm.days}"]


def plan(checks: Sequence[Check] = CHECKS, controls: bool = True) -> list[Run]:
    """Every run the checks need, without duplicates: each check's arms, and (``controls``)
    the same arms with the check's mechanisms off."""
    runs: dict[str, Run] = {}
    for c in checks:
        for arm in c.arms:
            runs.setdefault(arm, Run(arm))
            if controls and c.mechanisms:
                r = Run(arm, tuple(sorted(c.mechanisms)))
                runs.setdefault(r.label, r)
    return list(runs.values())


def check_mechanisms(checks: Iterable[Check] = CHECKS) -> None:
    """Every mechanism named in ``patterns.MECHANISM`` exists in the model (ConfigError if not)."""
    from sim.model.mechanisms import check_ablate

    for c in checks:
        check_ablate(list(c.mechanisms), f"patterns.MECHANISM[{c.id!r}]")


def verdict(held: bool, held_without: bool | None) -> str:
    if not held:
        return NOT_HELD
    if held_without is None:
        return NO_CONTROL
    return BUILT_IN if held_without else IDENTIFIABLE


def classify(tables: Tables, checks: Sequence[Check] = CHECKS) -> pd.DataFrame:
    """The validation table: each check scored on the full arms and on its control arms.

    Columns of ``patterns.score`` plus ``held_without`` (the check on the ablated arms; None
    without a control), ``control_value``, ``verdict`` and ``counts`` (identifiable only).
    """
    full = evaluate(tables, [c.id for c in checks])
    rows = []
    for c, (_, r) in zip(checks, full.iterrows(), strict=True):
        row = r.to_dict()
        if c.mechanisms:
            runs = [Run(a, tuple(sorted(c.mechanisms))) for a in c.arms]
            control = tables.relabel({run.label: run.arm for run in runs})
            ctl = score(c, control, ref=tables)
            row["held_without"] = ctl["held"]
            row["control_value"] = ctl["value"]
            row["control_low"], row["control_high"] = ctl["low"], ctl["high"]
        else:
            row["held_without"] = None
            row["control_value"] = row["control_low"] = row["control_high"] = float("nan")
        row["verdict"] = verdict(bool(row["held"]), row["held_without"])
        row["counts"] = row["verdict"] == IDENTIFIABLE
        rows.append(row)
    return pd.DataFrame(rows)


def facts_summary(table: pd.DataFrame) -> dict[str, object]:
    """How many DOMAIN 5c facts are tested, and how many have at least one counting check."""
    facts = sorted(set(int(f) for f in table["fact"]))
    counted = sorted(set(int(f) for f in table.loc[table["counts"], "fact"]))
    return {"facts_tested": facts, "facts_counted": counted,
            "checks": len(table), "checks_counted": int(table["counts"].sum()),
            "verdicts": table["verdict"].value_counts().to_dict()}
