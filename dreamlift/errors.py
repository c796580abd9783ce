"""The one error type for user mistakes.

A :class:`DreamliftError` carries a single line that says what went wrong and what
to do about it. The command line prints it as ``error: <message>`` and exits with
status 2 (its ``exit_status``), with no traceback. Anything else that escapes is a bug.
A run stopped by a signal is the one other ending (``RunInterrupted`` in
:mod:`dreamlift.distillation.loop`): its line without ``error:``, and the Unix status 128 + the
signal's number (130 for SIGINT/Ctrl-C, 143 for SIGTERM).
"""


class DreamliftError(Exception):
    """A user-facing error whose message is one line that says what to do."""

    exit_status = 2
    """The command's exit status when this error ends it."""

    def __init__(self, message: str):
        message = " ".join(str(message).split())  # always one line
        super().__init__(message)


def main_status(action) -> int:
    """Run ``action()`` as a process's main work and return its exit status (None: 0).

    A :class:`DreamliftError` is printed on stderr as ``error: <message>`` with its ``exit_status``
    (2), a stopped run as its own line with 128 + the signal's number; Ctrl-C anywhere else prints
    ``interrupted`` and gives 130. Every entry point (the command line, a batch row, an app job's
    child) ends this way.
    """
    import sys

    try:
        return int(action() or 0)
    except DreamliftError as error:
        status = error.exit_status
        sys.stderr.write(f"error: {error}\n" if status == 2 else f"{error}\n")
        return status
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
