"""Expected failures: each carries a message for people and the exit code the CLI returns."""

from __future__ import annotations


class TunelineError(Exception):
    """An expected failure (bad input, failed gate, drift found), shown without a traceback."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(TunelineError):
    """params.yaml is missing a key, has an unknown one, or a bad combination."""

    exit_code = 2


class DataError(TunelineError):
    """An input file or row cannot be used; the message names the file, row or key."""

    exit_code = 3


class GateFailed(TunelineError):
    """A quality or promotion gate failed; the message names each failing check."""

    exit_code = 4


class DriftDetected(TunelineError):
    """New traffic drifted from the training data."""

    exit_code = 5


class RegistryError(TunelineError):
    """The model registry refused an operation (unknown version, alias missing, race lost)."""

    exit_code = 6


def error_for_exit_code(code: int, message: str) -> TunelineError:
    """Rebuild the expected failure a `tuneline` subprocess reported through its exit code."""
    for cls in (ConfigError, DataError, GateFailed, DriftDetected, RegistryError):
        if cls.exit_code == code:
            return cls(message)
    return TunelineError(message)
