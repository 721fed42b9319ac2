"""How much common random numbers buy, per shipped scenario against the status quo: the table in
README.md ("Comparing scenarios").

Usage (from the repository root)::

    uv run python benchmarks/crn_efficiency.py                       # run, then print the table
    uv run python benchmarks/crn_efficiency.py replicates=30 days=120 workers=2
    uv run python benchmarks/crn_efficiency.py results/crn_efficiency  # table of a finished run

Without a directory it runs ``gapsim compare`` of every scenario in ``configs/scenario/`` against
``status_quo_2019`` (default 30 replicates of 120 days, ``crn=true``) into
``results/crn_efficiency`` (rerunning resumes), then prints a Markdown table of the paired
incident difference: the correlation of the two arms across replicates and the efficiency
Var(diff) / (Var A + Var B) measured on the same runs (1 for independent arms, below 1 when
common random numbers help), each with its 95 % bootstrap interval, from
``crn_efficiency.csv``. Paste the table into README.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

BASELINE = "status_quo_2019"
OUTCOME = "incidents"
DEFAULTS = {"replicates": "30", "days": "120"}
OUT_DIR = Path("results/crn_efficiency")


def table(run_dir: Path, outcome: str = OUTCOME) -> str:
    """The Markdown table of one comparison directory."""
    import json

    eff = pd.read_csv(run_dir / "crn_efficiency.csv")
    eff = eff[eff["outcome"] == outcome]
    configs = json.loads((run_dir / "scenarios.json").read_text())
    start = configs[BASELINE]["scenario"]["start_date"]
    rows = ["| scenario (vs status_quo_2019) | starts | pairs | correlation of the arms [95%] "
            "| Var(diff) / (Var A + Var B) [95%] |", "|---|---|---|---|---|"]
    for _, r in eff.iterrows():
        own = configs[r["scenario"]]["scenario"]["start_date"]
        when = own if own == start else f"{own} (not the status quo's date)"
        rows.append(f"| {r['scenario']} | {when} | {int(r['n'])} | {r['correlation']:+.2f} "
                    f"[{r['corr_low']:+.2f}, {r['corr_high']:+.2f}] | {r['efficiency']:.2f} "
                    f"[{r['eff_low']:.2f}, {r['eff_high']:.2f}] |")
    days = configs[BASELINE]["days"]
    return (f"Paired difference in {outcome}, {int(eff['n'].max())} replicates of {days} days, "
            f"seed {configs[BASELINE]['seed']}, terrain {configs[BASELINE]['terrain']['name']}:\n\n"
            + "\n".join(rows))


def main(argv: list[str]) -> int:
    dirs = [a for a in argv if "=" not in a]
    if dirs:
        print(table(Path(dirs[0])))
        return 0
    from sim.cli import main as gapsim
    from sim.config.load import options

    settings = {**DEFAULTS, **dict(a.split("=", 1) for a in argv)}
    names = [BASELINE] + [n for n in options("scenario") if n != BASELINE]
    code = gapsim(["compare", f"scenarios=[{','.join(names)}]", f"baseline={BASELINE}",
                   *(f"{k}={v}" for k, v in settings.items()), f"hydra.run.dir={OUT_DIR}"])
    if code != 0:
        return code
    print()
    print(table(OUT_DIR))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
