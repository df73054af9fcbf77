"""Errors a user sees: each says what went wrong and what to do next."""

from __future__ import annotations


class BridgeError(Exception):
    """An error with a next step; the CLI prints it without a traceback and exits non-zero."""

    exit_code = 2

    def __init__(self, message: str, next_step: str | None = None):
        super().__init__(message)
        self.message = message
        self.next_step = next_step

    def __str__(self) -> str:
        if self.next_step:
            return f"{self.message}\n  next step: {self.next_step}"
        return self.message


class ConfigError(BridgeError):
    """A bad configuration file, environment variable or flag."""


class InputError(BridgeError):
    """Unreadable or malformed input (a JSONL row, a non-UTF-8 file)."""


class SetupError(BridgeError):
    """The Lean side is missing or broken (no toolchain, a header that does not elaborate)."""

    exit_code = 3


class RunDirError(InputError):
    """A run directory (or an output directory) that cannot be used: not a directory, not writable, a
    corrupt or foreign ``run.sqlite``. One line: the path, what is wrong, the next step (docs/errors.md)."""

    exit_code = 5

    def __str__(self) -> str:
        return f"{self.message}; next step: {self.next_step}" if self.next_step else self.message
