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
