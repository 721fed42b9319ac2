"""Helpers for Hydra launchers (``configs/hydra/launcher/*.yaml``).

Why: the joblib launcher runs each job in a loky worker process, where multiprocessing's default
start method is ``"loky"``. The engine's process pool (forkserver or spawn) hands that start method
to the processes it creates, which do not know it, and every replicate fails with
``ValueError: cannot find context for 'loky'``. ``StartMethodCallback`` puts the standard start
method back before each job; ``configs/hydra/launcher/joblib.yaml`` installs it.
"""

from __future__ import annotations

import multiprocessing
from typing import Any

from hydra.experimental.callback import Callback


def restore_start_method(method: str = "forkserver") -> str | None:
    """If this process's multiprocessing start method is not a standard one, set ``method``.

    Returns the start method that was replaced (None if nothing changed).
    """
    current = multiprocessing.get_start_method(allow_none=True)
    if current is None or current in multiprocessing.get_all_start_methods():
        return None
    multiprocessing.set_start_method(method, force=True)
    return current


class StartMethodCallback(Callback):
    """Hydra callback: restore a standard start method at the start of each job."""

    def __init__(self, method: str = "forkserver") -> None:
        self.method = method

    def on_job_start(self, config: Any, **kwargs: Any) -> None:
        restore_start_method(self.method)
