"""User-facing error types.

Why: a bad configuration value must reach the user as one line naming the key, the value and what
is allowed (the CLI turns it into exit code 2 without a traceback), so every module raises the same
exception type instead of ad-hoc ``ValueError`` messages.
"""

from __future__ import annotations

from typing import Any


class ConfigError(ValueError):
    """Invalid user input: one line naming the key, the value and what is allowed.

    Args:
        key: dotted configuration key, e.g. ``terrain.cell_m``.
        value: the offending value (shown with ``repr``).
        allowed: a short description of what would have been accepted.
    """

    def __init__(self, key: str, value: Any, allowed: str) -> None:
        self.key = key
        self.value = value
        self.allowed = allowed
        super().__init__(key, value, allowed)

    def __str__(self) -> str:
        text = f"{self.key}={self.value!r}: {self.allowed}"
        return " ".join(text.split("\n"))


class RunError(Exception):
    """A run cannot go on for a reason outside its configuration: one line naming the file or
    folder, what is wrong with it and the fix (the CLI prints it without a traceback).

    Why a second type: bad *input* exits 2 before anything is written (``ConfigError``); these
    happen to a valid request (a full disk, a folder another run holds, a damaged file) and carry
    their own exit code: 2 when the request itself must change (another folder), 1 otherwise.

    Args:
        path: the file or folder concerned.
        problem: what is wrong with it.
        fix: what to do about it.
        exit_code: 1 (the run failed; fix and rerun) or 2 (choose differently).
    """

    def __init__(self, path: Any, problem: str, fix: str, *, exit_code: int = 1) -> None:
        self.path = str(path)
        self.problem = problem
        self.fix = fix
        self.exit_code = exit_code
        super().__init__(self.path, problem, fix)

    def __str__(self) -> str:
        text = f"{self.path}: {self.problem}; {self.fix}"
        return " ".join(text.split("\n"))
