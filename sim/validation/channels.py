"""Which mechanisms carry the effect of coordination (experiments/coordination_channels.yaml).

Why: an effect counts only if it comes from a mechanism, and a researcher must be able to see which
one. For a coordination scenario S and a mechanism c (a ``model.ablate`` name), paired by replicate:

    effect(S)        = mean_r [ Y(S, r) - Y(base, r) ]
    effect(S | no c) = mean_r [ Y(S without c, r) - Y(base without c, r) ]
    carried(S, c)    = effect(S) - effect(S | no c)

``carried`` is the part of the effect that disappears when the channel is switched off in both arms;
its interval is a t-interval over replicates of the per-replicate difference of differences. Channels
interact, so the parts need not add up to the whole; the table says so rather than forcing it.

"Tables alone" asks the question the previous model failed: set one per-level coordination table to
the scenario's level while everything else stays the status quo; if one estimated table produced most
of a scenario's effect by itself, its ``share`` would be near 1.

Pure functions over the runs table (``plan`` says which arms to run); the command is
``gapsim channels`` (sim/commands/channels.py).
"""

from __future__ import annotations

import argparse
import functools
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from sim.engine.stats import t_interval
from sim.errors import ConfigError
from sim.model.mechanisms import MECHANISMS
from sim.model.params import ModelParams, at_level, coordination_value

SPEC = Path(__file__).resolve().parents[2] / "experiments" / "coordination_channels.yaml"
MARKERS = ("<!-- channels:begin -->", "<!-- channels:end -->")


@dataclass(frozen=True)
class ChannelSpec:
    """The study: which scenarios, channels, tables and outcomes, how many replicates and days."""

    baseline: str
    scenarios: tuple[str, ...]
    channels: tuple[str, ...]
    tables: tuple[str, ...]
    outcomes: tuple[str, ...]
    replicates: int = 10
    days: int = 365
    description: str = ""


@dataclass(frozen=True)
class Arm:
    """One labelled configuration of the study."""

    label: str
    overrides: tuple[str, ...] = field(default_factory=tuple)


def load_spec(path: str | Path = SPEC) -> ChannelSpec:
    """Read and check the study file (one clear error per bad entry)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError("experiment", str(path), f"a readable YAML study file ({err})") from None
    if not isinstance(data, dict):
        raise ConfigError("experiment", str(path), "a mapping of study keys")
    known = {f.name for f in fields(ChannelSpec)}
    for key in data:
        if key not in known:
            raise ConfigError(f"{path.name}:{key}", data[key], f"allowed keys: {', '.join(sorted(known))}")
    for key in ("baseline", "scenarios", "channels", "outcomes"):
        if key not in data:
            raise ConfigError(f"{path.name}:{key}", None, "required")
    for c in data["channels"]:
        if c not in MECHANISMS:
            raise ConfigError(f"{path.name}:channels", c, f"one of {', '.join(MECHANISMS)}")
    per_level = {f.name for f in fields(ModelParams) if isinstance(getattr(ModelParams(), f.name), list)
                 and not f.metadata.get("names")}
    for t in data.get("tables", []):
        if t not in per_level:
            raise ConfigError(f"{path.name}:tables", t, f"one of {', '.join(sorted(per_level))}")
    return ChannelSpec(baseline=str(data["baseline"]), scenarios=tuple(data["scenarios"]),
                       channels=tuple(data["channels"]), tables=tuple(data.get("tables", [])),
                       outcomes=tuple(data["outcomes"]), replicates=int(data.get("replicates", 10)),
                       days=int(data.get("days", 365)), description=str(data.get("description", "")))


@functools.lru_cache(maxsize=64)
def scenario_level(name: str) -> float:
    """The coordination level a scenario file sets (its ``coordination`` key). Cached by name:
    composing a config takes about a second, and the tables-alone analysis asks for every
    (scenario, outcome, table), hundreds of times for the same few scenarios."""
    from sim.config.load import compose_config

    return coordination_value(compose_config([f"scenario={name}"])["coordination"])


def plan(spec: ChannelSpec) -> list[Arm]:
    """Every arm: the baseline and each scenario, each also with one channel off; the baseline with
    one table at a scenario's level."""
    arms = [Arm("base", (f"scenario={spec.baseline}",))]
    arms += [Arm(f"base-no-{c}", (f"scenario={spec.baseline}", f"model.ablate=[{c}]")) for c in spec.channels]
    for s in spec.scenarios:
        arms.append(Arm(s, (f"scenario={s}",)))
        arms += [Arm(f"{s}-no-{c}", (f"scenario={s}", f"model.ablate=[{c}]")) for c in spec.channels]
    seen = set()
    for s in spec.scenarios:
        for t in spec.tables:
            label = table_arm(spec, s, t)
            if label is not None and label not in seen:
                seen.add(label)
                value = label.rsplit("=", 1)[1]
                arms.append(Arm(label, (f"scenario={spec.baseline}", f"model.{t}=[{','.join([value] * 5)}]")))
    return arms


def table_arm(spec: ChannelSpec, scenario: str, table: str) -> str | None:
    """The arm that sets ``table`` to its value at the scenario's level, or None when that value is
    the baseline's own (the table alone then changes nothing, by construction)."""
    values = list(getattr(ModelParams(), table))
    value = at_level(values, scenario_level(scenario))
    if value == at_level(values, scenario_level(spec.baseline)):
        return None
    return f"base+{table}={value!r}"


def _paired(runs: pd.DataFrame, a: str, b: str, outcome: str) -> pd.Series:
    """Per-replicate difference Y(a) - Y(b) (replicates present in both)."""
    x = runs[runs["scenario"] == a].set_index("replicate")[outcome]
    y = runs[runs["scenario"] == b].set_index("replicate")[outcome]
    both = x.index.intersection(y.index)
    return (x.loc[both] - y.loc[both]).astype(float)


def attribute(runs: pd.DataFrame, spec: ChannelSpec) -> pd.DataFrame:
    """Per scenario, outcome and channel: the effect, the effect without the channel, what the
    channel carries (95% t-interval over replicates) and that as a share of the effect."""
    rows = []
    for s in spec.scenarios:
        for outcome in spec.outcomes:
            total = _paired(runs, s, "base", outcome)
            eff = t_interval(total.to_numpy())
            rows.append({"scenario": s, "outcome": outcome, "channel": "(all on)", "effect": eff.mean,
                         "effect_without": np.nan, "carried": np.nan, "low": eff.low, "high": eff.high,
                         "share": np.nan, "n": eff.n})
            for c in spec.channels:
                without = _paired(runs, f"{s}-no-{c}", f"base-no-{c}", outcome)
                both = total.index.intersection(without.index)
                carried = t_interval((total.loc[both] - without.loc[both]).to_numpy())
                rows.append({"scenario": s, "outcome": outcome, "channel": c, "effect": eff.mean,
                             "effect_without": float(without.mean()), "carried": carried.mean,
                             "low": carried.low, "high": carried.high,
                             "share": carried.mean / eff.mean if eff.mean else np.nan, "n": carried.n})
    return pd.DataFrame(rows)


def tables_alone(runs: pd.DataFrame, spec: ChannelSpec) -> pd.DataFrame:
    """Per scenario, outcome and table: the effect of that table alone at the scenario's level."""
    rows = []
    for s in spec.scenarios:
        for outcome in spec.outcomes:
            eff = _paired(runs, s, "base", outcome).mean()
            for t in spec.tables:
                label = table_arm(spec, s, t)
                if label is None:  # the scenario uses the baseline's value of this table
                    rows.append({"scenario": s, "outcome": outcome, "table": t, "effect_alone": 0.0,
                                 "low": 0.0, "high": 0.0, "scenario_effect": eff,
                                 "share": 0.0 if eff else np.nan, "n": 0})
                    continue
                alone = t_interval(_paired(runs, label, "base", outcome).to_numpy())
                rows.append({"scenario": s, "outcome": outcome, "table": t, "effect_alone": alone.mean,
                             "low": alone.low, "high": alone.high, "scenario_effect": eff,
                             "share": alone.mean / eff if eff else np.nan, "n": alone.n})
    return pd.DataFrame(rows)


def plot(attr: pd.DataFrame, outcome: str, path: Path) -> Path:
    """One panel per scenario: what each channel carries of the effect on ``outcome`` (bars with
    95% intervals), the whole effect as a line; shared x axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sub = attr[attr["outcome"] == outcome]
    scenarios = list(dict.fromkeys(sub["scenario"]))
    ch = sub[sub["channel"] != "(all on)"]
    lo = float(np.nanmin(np.r_[ch["low"], sub["effect"], 0.0]))
    hi = float(np.nanmax(np.r_[ch["high"], sub["effect"], 0.0]))
    pad = 0.05 * (hi - lo or 1.0)
    fig, axes = plt.subplots(1, len(scenarios), figsize=(4.2 * len(scenarios), 5.2), sharey=True,
                             squeeze=False)
    for ax, s in zip(axes[0], scenarios, strict=True):
        rows = ch[ch["scenario"] == s]
        y = np.arange(len(rows))
        ax.barh(y, rows["carried"], color="#4c72b0")
        ax.errorbar(rows["carried"], y, xerr=[rows["carried"] - rows["low"], rows["high"] - rows["carried"]],
                    fmt="none", ecolor="black", capsize=3)
        effect = float(sub[(sub["scenario"] == s) & (sub["channel"] == "(all on)")]["effect"].iloc[0])
        ax.axvline(effect, color="#c44e52", lw=2, label=f"whole effect {effect:+.1f}")
        ax.axvline(0, color="grey", lw=1)
        ax.set_yticks(y, rows["channel"])
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_title(s.replace("_", " "), fontsize=12)
        ax.set_xlabel(f"{outcome} a year, carried (left: fewer)", fontsize=11)
        ax.legend(fontsize=9, loc="lower right")
    fig.suptitle("What each mechanism carries of a scenario's effect vs the status quo "
                 "(paired by seed; 95% intervals)", fontsize=13)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def markdown(attr: pd.DataFrame, alone: pd.DataFrame, outcome: str, n: int, days: int) -> str:
    """The tables for docs/VALIDATION.md."""
    out = [f"Outcome: `{outcome}` per {days} days; {n} replicates per arm, paired by seed; 95% t-intervals.",
           "", "| scenario | whole effect | " + " | ".join(
               c for c in dict.fromkeys(attr[attr["channel"] != "(all on)"]["channel"])) + " |"]
    chans = list(dict.fromkeys(attr[attr["channel"] != "(all on)"]["channel"]))
    out.append("|---|---|" + "---|" * len(chans))
    sub = attr[attr["outcome"] == outcome]
    for s in dict.fromkeys(sub["scenario"]):
        whole = sub[(sub["scenario"] == s) & (sub["channel"] == "(all on)")].iloc[0]
        cells = [f"{whole['effect']:+.1f} [{whole['low']:+.1f}, {whole['high']:+.1f}]"]
        for c in chans:
            r = sub[(sub["scenario"] == s) & (sub["channel"] == c)].iloc[0]
            cells.append(f"{r['carried']:+.1f} [{r['low']:+.1f}, {r['high']:+.1f}]")
        out.append(f"| {s} | " + " | ".join(cells) + " |")
    out += ["", "Each table alone at the scenario's level (everything else the status quo); share = "
            "effect alone / whole effect:", ""]
    tabs = list(dict.fromkeys(alone["table"]))
    out.append("| scenario | " + " | ".join(tabs) + " |")
    out.append("|---|" + "---|" * len(tabs))
    sa = alone[alone["outcome"] == outcome]
    for s in dict.fromkeys(sa["scenario"]):
        cells = []
        for t in tabs:
            r = sa[(sa["scenario"] == s) & (sa["table"] == t)].iloc[0]
            share = f" ({r['share']:.0%})" if np.isfinite(r["share"]) else ""
            cells.append(f"{r['effect_alone']:+.1f}{share}")
        out.append(f"| {s} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def write_docs(run_dir: Path, doc: Path, outcome: str = "incidents") -> None:
    """Replace the block between the channel markers of ``doc`` with the run's tables."""
    attr = pd.read_csv(run_dir / "channels.csv")
    alone = pd.read_csv(run_dir / "tables_alone.csv")
    runs = pd.read_parquet(run_dir / "runs.parquet")
    n = int(runs.groupby("scenario")["replicate"].nunique().min())
    days = int(yaml.safe_load((run_dir / "config.yaml").read_text())["days"])
    text = doc.read_text(encoding="utf-8")
    begin, end = MARKERS
    if begin not in text or end not in text:
        raise ValueError(f"{doc} lacks the markers {begin} ... {end}")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    doc.write_text(f"{head}{begin}\n{markdown(attr, alone, outcome, n, days)}\n{end}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write a channels run's tables into a document.")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--write", type=Path, default=Path("docs/VALIDATION.md"))
    parser.add_argument("--outcome", default="incidents")
    args = parser.parse_args(argv)
    write_docs(args.run_dir, args.write, args.outcome)
    print(f"{args.write}: channel tables updated from {args.run_dir}")


if __name__ == "__main__":
    main()

