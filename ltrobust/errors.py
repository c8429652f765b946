"""Exceptions for bad user input.

Every error a user can cause (a missing file, an unknown name, a shape that does not fit) is an
:class:`LtRobustError` whose message is one line. The CLI prints that line on stderr and exits
with code 2; library callers can catch the specific subclasses.
"""

from __future__ import annotations


class LtRobustError(Exception):
    """Bad input: the message is a single line that says what is wrong and how to fix it."""


class DataError(LtRobustError):
    """A dataset cannot be found, read or interpreted."""


class ModelLoadError(LtRobustError):
    """A model file cannot be loaded, or its architecture does not match."""


class ConfigError(LtRobustError):
    """An option has an invalid value (unknown attack, eps out of range, ...)."""


class ModelOutputError(LtRobustError):
    """The model's outputs do not fit the dataset (wrong class count, NaN or infinite logits)."""


class OutputError(LtRobustError):
    """An output file or folder cannot be created or written (checked before any work)."""
