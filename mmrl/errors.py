"""Errors whose message is meant for the user.

The CLI prints a ``UserError`` as one clear message (no traceback) and exits with code 1; a
``mmrl.config.ConfigError`` exits with code 2. Everything else is a bug and keeps its traceback.
"""


class UserError(RuntimeError):
    """Something the user can fix: a missing file, a package to install, a bad input row."""
