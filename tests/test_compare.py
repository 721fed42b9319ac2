"""`gapsim compare`: paired scenario comparison and the self-contained HTML report."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from sim.cli import main
from sim.config.load import load_config, options

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
                 "replicates=3", "days=45", "terrain=qarachogh_coarse", "workers=1",
                 "progress=false", f"hydra.run.dir={out}"])
    assert code == 0
    return out


def test_report_names_every_scenario_with_intervals_and_embedded_figures(report_dir):
    html = (report_dir / "report.html").read_text()
    for name in SCENARIOS:
        assert name in html
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', html)) >= 3
    assert "http://" not in html and "https://" not in html, "the report must open offline"
    summary = re.search(r'<ul class="summary">(.*?)</ul>', html, re.S).group(1)
    for name in SCENARIOS[1:]:
        assert re.search(rf"{name}: incidents [+-]\d+% \[[+-]\d+%, [+-]\d+%\]", summary), summary


def test_tables_pair_replicates_and_match_runs(report_dir):
    runs = pd.read_parquet(report_dir / "runs.parquet")
    diffs = pd.read_csv(report_dir / "paired_differences.csv")
    assert sorted(runs["scenario"].unique()) == sorted(SCENARIOS)
    assert set(diffs["scenario"]) == set(SCENARIOS[1:])
    inc = diffs[(diffs["outcome"] == "incidents") & (diffs["scenario"] == "joint_brigades")].iloc[0]
    base = runs[runs["scenario"] == "status_quo_2019"].set_index("replicate")["incidents"]
    arm = runs[runs["scenario"] == "joint_brigades"].set_index("replicate")["incidents"]
    assert inc["diff_mean"] == pytest.approx((arm - base).mean())
    assert inc["diff_low"] <= inc["diff_mean"] <= inc["diff_high"]
    for ext in ("png", "svg"):
        assert (report_dir / "figures" / f"forest.{ext}").exists()


def test_unknown_scenario_and_baseline_are_rejected(tmp_path, capsys):
    assert main(["compare", "scenarios=[status_quo_2019,atlantis]",
                 f"hydra.run.dir={tmp_path / 'x'}"]) == 2
    assert "scenarios='atlantis'" in capsys.readouterr().err
    assert main(["compare", "scenarios=[status_quo_2019,joint_brigades]", "baseline=pre_2017",
                 f"hydra.run.dir={tmp_path / 'y'}"]) == 2
    assert "baseline" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
