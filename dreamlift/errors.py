"""The one error type for user mistakes.

A :class:`DreamliftError` carries a single line that says what went wrong and what
to do about it. The command line prints it as ``error: <message>`` and exits with
status 2, with no traceback. Anything else that escapes is a bug.
"""


class DreamliftError(Exception):
    """A user-facing error whose message is one line that says what to do."""

    def __init__(self, message: str):
        message = " ".join(str(message).split())  # always one line
        super().__init__(message)
