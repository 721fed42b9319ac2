"""`gapsim compare`: paired scenario comparison, the self-contained HTML report, the handout."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from sim.analysis.compare import add_display_columns, scenario_summaries
from sim.cli import main
from sim.config.load import load_config, options
from sim.engine.stats import paired_differences
from sim.outcomes import OUTCOMES, directed

SCENARIOS = ["status_quo_2019", "joint_brigades", "peshmerga_return"]


@pytest.mark.parametrize("name", options("scenario"))
def test_every_scenario_file_validates(name):
    _, config = load_config([f"scenario={name}"])
    assert config.scenario.name == name, "the file name and scenario.name must agree"
    assert config.scenario.description.strip()
    assert config.scenario.sources


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare") / "run"
    code = main(["compare", f"scenarios=[{','.join(SCENARIOS)}]", "baseline=status_quo_2019",
                 "replicates=3", "days=30", "terrain=qarachogh_coarse", "workers=1",
                 "progress=false", f"hydra.run.dir={out}"])
    assert code == 0
    return out


def test_report_opens_offline_with_facts_first_and_every_scenario(report_dir):
    html = (report_dir / "report.html").read_text()
    assert "http://" not in html and "https://" not in html, "the report must open offline"
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', html)) == 3
    top = html[: html.index("<h2>Summary</h2>")]
    assert "Horizon: 30 simulated days" in top and "Replicates: 3 per scenario" in top
    assert "intervals from fewer than 10" in top  # 3 replicates: said to be unreliable
    for name in SCENARIOS[1:]:
        assert re.search(rf"<h3>{name} <small>vs status_quo_2019</small></h3>", html)
    assert "fighters_final" not in html.split("<h2>Outcomes per scenario")[0]  # plain labels
    assert "source article 001:" in html and "seed 001:" not in html


def test_tables_pair_replicates_and_respect_each_outcomes_support(report_dir):
    runs = pd.read_parquet(report_dir / "runs.parquet")
    diffs = pd.read_csv(report_dir / "paired_differences.csv")
    summary = pd.read_csv(report_dir / "summary.csv")
    assert sorted(runs["scenario"].unique()) == sorted(SCENARIOS)
    assert set(diffs["scenario"]) == set(SCENARIOS[1:])
    inc = diffs[(diffs["outcome"] == "incidents") & (diffs["scenario"] == "joint_brigades")].iloc[0]
    base = runs[runs["scenario"] == "status_quo_2019"].set_index("replicate")["incidents"]
    arm = runs[runs["scenario"] == "joint_brigades"].set_index("replicate")["incidents"]
    assert inc["diff_mean"] == pytest.approx((arm - base).mean())
    assert inc["diff_low"] <= inc["diff_mean"] <= inc["diff_high"]
    assert not diffs["reliable"].any() and not summary["reliable"].any()
    for _, r in summary.iterrows():
        low, high = OUTCOMES[r["outcome"]].support
        if np.isfinite(r["ci_low"]):
            assert low <= r["ci_low"] <= r["ci_high"] <= high, r["outcome"]
    assert (diffs["pct_low"].dropna() >= -100).all()
    shares = diffs[diffs["change_unit"] == "points"]
    assert (shares["change_low"].dropna() >= -100).all() and (shares["change_high"].dropna() <= 100).all()
    eff = pd.read_csv(report_dir / "crn_efficiency.csv")
    assert {"correlation", "efficiency", "eff_low", "eff_high"} <= set(eff.columns)
    for name in ("forest", "density", "series"):
        for ext in ("png", "svg"):
            assert (report_dir / "figures" / f"{name}.{ext}").exists()


def test_handout_is_one_a4_page(report_dir):
    pdf = (report_dir / "handout.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == 1
    box = [float(x) for x in re.search(rb"/MediaBox\s*\[([^\]]+)\]", pdf).group(1).split()]
    assert box[2] == pytest.approx(595.44, abs=0.5) and box[3] == pytest.approx(841.68, abs=0.5)
    if shutil.which("pdfinfo"):
        info = subprocess.run(["pdfinfo", str(report_dir / "handout.pdf")], capture_output=True,
                              text=True, check=True).stdout
        assert re.search(r"Pages:\s+1\n", info) and "(A4)" in info


def test_the_recorded_command_names_the_subcommand(report_dir):
    manifest = json.loads((report_dir / "manifest.json").read_text())
    assert manifest["command"].startswith("gapsim compare 'scenarios=[status_quo_2019,")
    assert manifest["command_argv"][0] == "compare"
    html = (report_dir / "report.html").read_text()
    assert "uv run gapsim compare" in html


def test_reproduce_reruns_the_comparison(report_dir, capsys):
    assert main(["reproduce", str(report_dir)]) == 0
    assert capsys.readouterr().out.startswith(f"identical: {report_dir}")


def test_summary_names_every_clear_worsening_next_to_improvements():
    """A synthetic comparison: casualties rise in every replicate while incidents fall."""
    n = 12
    rng = np.random.default_rng(1)
    base_inc = 5 * rng.poisson(4, n)
    runs = pd.DataFrame({
        "scenario": ["sq"] * n + ["jb"] * n, "replicate": [*range(n)] * 2,
        "incidents": np.concatenate([base_inc, base_inc // 5]),
        "casualties_security": np.concatenate([np.full(n, 3), np.full(n, 3) + rng.integers(2, 5, n)]),
        "airstrikes": np.concatenate([np.full(n, 10), np.full(n, 10) + rng.integers(2, 5, n)]),
        "gap_control": np.concatenate([np.full(n, 0.5), np.full(n, 0.8)]),
        "fighters_final": np.concatenate([np.full(n, 100), 100 + np.tile([-2, 2, -1, 1], 3)]),
    })  # fmt: skip
    outcomes = [c for c in runs.columns if c not in ("scenario", "replicate")]
    diffs = add_display_columns(paired_differences(runs, "sq", outcomes,
                                                   lower_is_better=directed(outcomes)))
    (s,) = scenario_summaries(runs, diffs, ["jb"])
    groups = dict(s.groups())
    assert any(x.startswith("incidents (all types) -80% [") for x in groups["Better"])
    assert any(x.startswith("daily share of gap cells covered by a post or patrol +30 points")
               for x in groups["Better"])
    assert [x.split(" +")[0] for x in groups["Worse"]] == [
        "security-force casualties (killed or wounded)"]
    assert groups["Also changes (neither better nor worse)"][0].startswith(
        "coalition airstrikes flown +")
    assert "insurgent fighters at the end" in groups["No clear change"]
    assert "jb vs sq:" in s.text()


def test_unknown_scenario_and_baseline_are_rejected(tmp_path, capsys):
    assert main(["compare", "scenarios=[status_quo_2019,atlantis]",
                 f"hydra.run.dir={tmp_path / 'x'}"]) == 2
    assert "scenarios='atlantis'" in capsys.readouterr().err
    assert main(["compare", "scenarios=[status_quo_2019,joint_brigades]", "baseline=pre_2017",
                 f"hydra.run.dir={tmp_path / 'y'}"]) == 2
    assert "baseline" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_crn_false_keeps_the_baseline_on_common_keys():
    from sim.commands.compare import arm_configs

    configs = arm_configs(["crn=false", "terrain=qarachogh_coarse"],
                          ["status_quo_2019", "joint_brigades"], "status_quo_2019")
    assert configs["status_quo_2019"]["crn"] is True
    assert configs["joint_brigades"]["crn"] is False
