"""The tutorial notebook runs top to bottom (so it never rots), in a scratch working directory."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "tutorial.ipynb"


@pytest.fixture
def jupyter_env(monkeypatch):
    # jupyter_core warns (DeprecationWarning) about its old config paths unless told to use the
    # platformdirs ones; the suite turns deprecations into errors.
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")


@pytest.mark.slow
def test_tutorial_notebook_runs_top_to_bottom(tmp_path, jupyter_env) -> None:
    # budget: about 1-2 minutes on 2 idle cores (the notebook states its own runtime)
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        "commit the tutorial without outputs (its numbers would go stale)")
    # ipykernel's "python3" kernel: jupyter_client starts it with this interpreter (sys.executable)
    client = NotebookClient(nb, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2, "the comparison and the sweep are each plotted once"
    out = tmp_path / "results" / "tutorial"
    assert (out / "compare" / "report.html").is_file()
    assert (out / "sweep" / "sweep.parquet").is_file()
    text = "".join(o.get("text", "") for o in outputs)
    assert "gap_width_km=-1.0: must be between 0 and 20 (km)" in text
