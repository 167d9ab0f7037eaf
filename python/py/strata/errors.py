"""The exceptions strata raises: one class per kind of error, all under :class:`StrataError`.

The message is the engine's one-line message (it names the keyword argument or the column at fault and
what to do), the same line the command line prints, with keyword names where the command line names flags.
"""


class StrataError(Exception):
    """Any error strata reports."""


class UsageError(StrataError, ValueError):
    """An option is out of range or options contradict each other (the CLI's exit code 2)."""


class InputError(StrataError, ValueError):
    """The data or a model file cannot be used: a missing column, a null, a corrupt file (exit code 3)."""


class OutputError(StrataError, OSError):
    """An output cannot be written; the previous outputs are intact (exit code 4)."""


class DeviceError(StrataError, RuntimeError):
    """The GPU failed or is not there when one was asked for (exit code 5)."""


__all__ = ["StrataError", "UsageError", "InputError", "OutputError", "DeviceError"]
