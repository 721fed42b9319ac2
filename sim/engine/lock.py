"""One run per folder: an exclusive lock on a run directory for as long as a run writes into it.

Why: two runs into one folder used to both succeed, leaving a ``config.yaml`` that described one
and tables computed by the other, and each run's cleanup could delete the other's temporary
files. A second run into a folder now fails at once, naming the run that holds it.

The lock is ``flock`` on ``<dir>/.gapsim.lock`` (the kernel releases it when the holder exits,
even after SIGKILL, so a crashed run never leaves a stale lock). The file also records who holds
it (pid, host, start time, command) so that the refusal can say so. Within one process the lock
is re-entrant: ``gapsim run`` takes it before writing ``config.yaml`` and the engine takes it
again around the replicates.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from sim.errors import RunError

LOCK_NAME = ".gapsim.lock"

_held: dict[str, list[int]] = {}  # resolved folder -> [fd, depth]
_guard = threading.Lock()


def _holder_text(fd: int) -> str:
    """Who holds the lock, from the lock file (best effort)."""
    try:
        raw = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
        info = json.loads(raw) if raw else {}
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or "pid" not in info:
        return "another gapsim run"
    command = info.get("command", "")
    return (
        f"another gapsim run (pid {info['pid']} on {info.get('host', '?')}, since "
        f"{info.get('started', '?')}{': ' + command if command else ''})"
    )


def _record_holder(fd: int) -> None:
    """Write who holds the lock; a full disk must not stop the run (the lock itself holds)."""
    info = {
        "pid": os.getpid(),
        "host": platform.node(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join(["gapsim", *sys.argv[1:]]) if sys.argv and sys.argv[0] else "",
    }
    data = (json.dumps(info) + "\n").encode()
    with contextlib.suppress(OSError):
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))


def acquire(out_dir: str | os.PathLike[str]) -> None:
    """Take the folder's lock (re-entrant within this process) or raise ``RunError`` at once.

    Raises:
        RunError: another process holds the folder (exit code 2: choose another folder).
    """
    folder = Path(out_dir).resolve()
    key = str(folder)
    with _guard:
        if key in _held:
            _held[key][1] += 1
            return
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder_text(fd)
            os.close(fd)
            raise RunError(
                folder,
                f"in use by {holder}",
                "wait for it to finish, or write this run to another folder (hydra.run.dir=...)",
                exit_code=2,
            ) from None
        except OSError:
            os.close(fd)
            raise
        _record_holder(fd)
        _held[key] = [fd, 1]


def release(out_dir: str | os.PathLike[str]) -> None:
    """Give the lock back (the last release in this process unlocks the folder)."""
    key = str(Path(out_dir).resolve())
    with _guard:
        entry = _held.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            del _held[key]
            with contextlib.suppress(OSError):
                fcntl.flock(entry[0], fcntl.LOCK_UN)
            os.close(entry[0])


def holds(out_dir: str | os.PathLike[str]) -> bool:
    """Whether this process holds the folder's lock."""
    return str(Path(out_dir).resolve()) in _held


@contextlib.contextmanager
def run_dir_lock(out_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold the folder's lock within the block (see ``acquire``)."""
    acquire(out_dir)
    try:
        yield Path(out_dir).resolve()
    finally:
        release(out_dir)
