"""The one error type for user mistakes.

A :class:`DreamliftError` carries a single line that says what went wrong and what
to do about it. The command line prints it as ``error: <message>`` and exits with
status 2 (its ``exit_status``), with no traceback. Anything else that escapes is a bug.
A run stopped by a signal is the one other ending (``RunInterrupted`` in
:mod:`dreamlift.training.loop`): its line without ``error:``, and the Unix status 128 + the
signal's number (130 for SIGINT/Ctrl-C, 143 for SIGTERM).
"""


class DreamliftError(Exception):
    """A user-facing error whose message is one line that says what to do."""

    exit_status = 2
    """The command's exit status when this error ends it."""

    def __init__(self, message: str):
        message = " ".join(str(message).split())  # always one line
        super().__init__(message)
