"""Errors that carry their process exit code (docs/architecture.md, "Exit codes").

0 success · 1 bad input data · 2 usage (an invalid option name or value) · 3 partial (some
inputs failed, the rest saved) · 4 resources (no GPU, out of memory) · 130 interrupted.
"""

from __future__ import annotations


class FinephysError(Exception):
    """A user-facing failure: one clear line on stderr, exit code 1."""

    exit_code = 1


class InputError(FinephysError):
    """An input file or option value is unusable."""


class UsageError(InputError):
    """An option value is invalid: exit 2, as click does for a bad option name. The message
    names the option."""

    exit_code = 2


class NoValidJointsError(InputError):
    """A skeleton (or the frames sampled from it) has no joint to crop or draw."""


class SchemaError(InputError):
    """A finephys file has the wrong format, version or skeleton."""


class ConfigError(FinephysError):
    """A config file or --set override is invalid (a usage error: exit 2)."""

    exit_code = 2


class ModelNotFoundError(FinephysError):
    """A model file could not be found locally."""


class OutputExistsError(FinephysError):
    """The output exists with a different config and --overwrite was not given."""


class LockError(FinephysError):
    """Another process is writing the same output."""


class ResourceError(FinephysError):
    """No GPU, CUDA out of memory: exit 4 so a scheduler can requeue."""

    exit_code = 4


class PartialFailure(FinephysError):
    """Some inputs failed; the others were saved (exit 3)."""

    exit_code = 3

    def __init__(self, failures: dict[str, str], output: str | list[str] | None = None):
        self.failures = dict(failures)
        # what was written all the same: printed on stdout, like a success's paths
        self.outputs = [] if output is None else [output] if isinstance(output, str) \
            else [str(o) for o in output]
        names = ", ".join(sorted(self.failures)[:5])
        more = "" if len(self.failures) <= 5 else f" (+{len(self.failures) - 5} more)"
        super().__init__(f"{len(self.failures)} input(s) failed: {names}{more}")
