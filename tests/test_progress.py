"""Progress lines: a log shows what will run before the first replicate finishes."""

from __future__ import annotations

import io

from sim.engine.progress import Progress


def test_a_start_line_comes_before_any_replicate_finishes() -> None:
    stream = io.StringIO()
    bar = Progress(0, stream=stream)
    bar.set_total(24)
    bar.skip(6)  # the engine's first call: jobs found on disk, before any job starts
    assert stream.getvalue() == "replicates: 18 of 24 to run, 6 found on disk; starting\n"
    bar.skip(0)  # later batches (sequential stopping) do not repeat it
    assert stream.getvalue().count("\n") == 1
    done = io.StringIO()
    bar = Progress(0, stream=done)
    bar.set_total(4)
    bar.skip(4)
    assert done.getvalue().startswith("replicates: 0 of 4 to run, 4 found on disk; nothing to run")
    quiet = io.StringIO()
    Progress(3, stream=quiet, silent=True).skip(0)
    assert quiet.getvalue() == ""
