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


def exit_status(action) -> int:
    """Run ``action()`` as a process's main work: its status (None: 0); a :class:`DreamliftError` is printed as
    ``error: <message>`` on stderr and gives 2; Ctrl-C prints ``interrupted`` and gives 130.

    Every entry point (the command line, a batch row, an app job's child) ends this way.
    """
    import sys

    try:
        return int(action() or 0)
    except DreamliftError as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
