"""The README's Python example runs exactly as written (so it cannot drift from the API)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_example() -> str:
    """The first ```python block under the README's "## From Python" heading, verbatim."""
    text = README.read_text()
    section = text.split("\n## From Python\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "the README's Python section has no ```python block"
    return blocks[0]


@pytest.mark.slow
def test_readme_python_example_runs_as_written(tmp_path) -> None:
    # budget: about a minute on 2 idle cores (3 small runs of 60 days on the coarse terrain)
    script = tmp_path / "readme_example.py"
    script.write_text(python_example())
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=1800, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert any(line.startswith("results/run/") for line in lines), done.stdout
    assert (tmp_path / "results" / "compare").is_dir()
    assert re.fullmatch(r"\[\d+, \d+\]", lines[-1]), "the pool's two incident counts"
