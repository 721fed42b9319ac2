"""Progress reporting for Monte Carlo runs: a tqdm bar on a terminal, sparse log lines elsewhere.

Why: an interactive user wants a live bar with an ETA; a CI log or a redirected stderr wants a few
readable lines (every ~10% or 30 s), not thousands of carriage returns.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Self, TextIO


def format_duration(seconds: float) -> str:
    """``1h02m`` / ``3m05s`` / ``12s``."""
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


class Progress:
    """Counts finished replicates against a total that may grow (sequential stopping).

    Args:
        total: jobs expected (may be raised later with ``set_total``).
        initial: jobs already complete (resumed), shown as done but excluded from the ETA.
        enabled: False for no bar (log lines only).
        silent: no output at all (counts are still kept).
        stream: where to write (stderr by default); a bar needs it to be a TTY.
        desc: label in front of the counts.
        every_frac: log-line spacing as a fraction of the total.
        every_s: log-line spacing in seconds.
    """

    def __init__(
        self,
        total: int,
        initial: int = 0,
        *,
        enabled: bool = True,
        silent: bool = False,
        stream: TextIO | None = None,
        desc: str = "replicates",
        every_frac: float = 0.1,
        every_s: float = 30.0,
    ) -> None:
        self.total = total
        self.count = initial
        self.failed = 0
        self._initial = initial
        self._stream = stream if stream is not None else sys.stderr
        self._desc = desc
        self._every_frac = every_frac
        self._every_s = every_s
        self._start = time.monotonic()
        self._last_time = self._start
        self._last_count = initial
        self._bar: Any = None
        self._silent = silent
        self._announced = False
        if enabled and not silent and _isatty(self._stream):
            from tqdm import tqdm

            self._bar = tqdm(
                total=total, initial=initial, desc=desc, unit="rep", file=self._stream, leave=True
            )

    def set_total(self, total: int) -> None:
        """Raise (or lower) the expected total."""
        self.total = total
        if self._bar is not None:
            self._bar.total = total
            self._bar.refresh()

    def skip(self, n: int) -> None:
        """Count ``n`` jobs found complete on disk (shown as done, excluded from rate and ETA).

        The first call (the engine makes it before any job starts) also prints a start line, so
        a log shows at once what will run rather than only after the first replicate finished.
        """
        if self._announced:
            if n > 0:
                self._skip(n)
            return
        self._announced = True
        if self._bar is None and not self._silent:
            found = self.count + max(n, 0)
            todo = self.total - found
            on_disk = f", {found} found on disk" if found else ""
            state = "starting" if todo else "nothing to run"
            print(f"{self._desc}: {todo} of {self.total} to run{on_disk}; {state}",
                  file=self._stream, flush=True)  # fmt: skip
        if n > 0:
            self._last_count += n  # said above: no separate line for the resumed jobs
            self._skip(n)

    def _skip(self, n: int) -> None:
        self._initial += n
        if self._bar is not None:
            self._bar.initial += n
        self.advance(n)

    def advance(self, n: int = 1, *, failed: bool = False) -> None:
        """Record ``n`` more finished jobs (``failed`` ones are also counted separately)."""
        self.count += n
        if failed:
            self.failed += n
        if self._bar is not None:
            self._bar.update(n)
            if self.failed:
                self._bar.set_postfix(failed=self.failed, refresh=False)
            return
        if self._silent:
            return
        now = time.monotonic()
        step = max(1, int(self._every_frac * self.total))
        if self.count - self._last_count >= step or now - self._last_time >= self._every_s:
            self._log(now)

    def _log(self, now: float) -> None:
        self._last_time, self._last_count = now, self.count
        elapsed = now - self._start
        fresh = self.count - self._initial
        eta = ""
        if fresh > 0 and self.count < self.total:
            eta = f", ETA {format_duration(elapsed / fresh * (self.total - self.count))}"
        fails = f", {self.failed} failed" if self.failed else ""
        pct = 100.0 * self.count / self.total if self.total else 100.0
        print(
            f"{self._desc}: {self.count}/{self.total} ({pct:.0f}%){fails}, "
            f"{format_duration(elapsed)} elapsed{eta}",
            file=self._stream,
            flush=True,
        )

    def note(self, text: str) -> None:
        """A one-off line for the user (above the bar on a terminal); silent mode drops it."""
        if self._silent:
            return
        if self._bar is not None:
            self._bar.write(f"gapsim: {text}", file=self._stream)
        else:
            print(f"gapsim: {text}", file=self._stream, flush=True)

    def close(self) -> None:
        """Finish the bar, or print a final line if anything happened since the last one."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.count != self._last_count and not self._silent:
            self._log(time.monotonic())

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
