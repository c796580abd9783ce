"""The ``dreamlift`` command: the console entry point over :mod:`dreamlift.commands`.

A :class:`~dreamlift.errors.DreamliftError` is printed as one line, ``error: ...``, and
exits with status 2. A training run stopped by Ctrl-C (SIGINT) or SIGTERM saves a checkpoint, prints
one line that says how to resume, and exits with 128 + the signal's number: 130 for SIGINT, 143 for
SIGTERM (the Unix convention); Ctrl-C anywhere else exits with 130.
"""

from __future__ import annotations

import sys
import warnings

from dreamlift.commands import COMMANDS, build_parser, run_argv  # noqa: F401 (the command line's parts, for callers of the CLI)


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {' '.join(str(message).split())}\n"


def main(argv: list[str] | None = None) -> int:
    warnings.formatwarning = _one_line_warning
    return run_argv(argv)


if __name__ == "__main__":
    sys.exit(main())
