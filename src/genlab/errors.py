"""User-facing errors.

Anything the user can fix (a bad key, a missing file, a corrupt checkpoint) raises a
subclass of :class:`GenlabError`. The command line turns it into one line on stderr and
exit status 2; a traceback is shown only with ``--debug``.
"""


class GenlabError(Exception):
    """A problem with the user's input: printed as one line, exit status 2."""


class ConfigError(GenlabError):
    """A bad config key or value. The message names the dotted key."""


class DataError(GenlabError):
    """A missing, truncated or malformed data file. The message names the file."""


class CheckpointError(GenlabError):
    """A missing, corrupt or mismatched run directory or checkpoint file."""
