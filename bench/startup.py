"""Start-up time of the ``dreamlift`` command: ``--help``, a command's ``--help``, argument errors,
and ``python -c 'import torch'`` as the reference (issue 16, item 3).

Each command runs in a fresh interpreter (``python -m dreamlift.cli ...``, as the ``dreamlift``
script does) ``--repeat`` times; printed: the median wall time in ms, its ratio to the torch
import of the same run, and whether the command's exit status is the expected one. Give
``--tree DIR`` to time another checkout (e.g. ``git worktree add /tmp/main main`` for "before");
the default is this checkout.

    python bench/startup.py                      # this checkout
    python bench/startup.py --tree /tmp/main     # another checkout, e.g. main before the change
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = [
    ("dreamlift --help", ["--help"], 0),
    ("dreamlift text --help", ["text", "--help"], 0),
    ("dreamlift text (no prompt)", ["text"], 2),
    ("dreamlift text P --steps abc", ["text", "a red cube", "--steps", "abc"], 2),
    ("dreamlift text P --set nosuch=1", ["text", "a red cube", "--set", "nosuch=1"], 2),
    ("dreamlift text P --seed abc", ["text", "a red cube", "--seed", "abc"], 2),
]


def wall_ms(command: list[str], env: dict, cwd: str, expect: int | None) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True)
    seconds = time.perf_counter() - started
    if expect is not None and done.returncode != expect:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}, expected {expect}: {done.stderr.decode()[-500:]}")
    return seconds * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1], help="checkout whose dreamlift is timed")
    parser.add_argument("--repeat", type=int, default=7, help="runs per command (median reported)")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(args.tree.resolve()), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    python = sys.executable
    with tempfile.TemporaryDirectory() as cwd:
        reference = [wall_ms([python, "-c", "import torch"], env, cwd, 0) for _ in range(args.repeat)]
        bare = [wall_ms([python, "-c", "pass"], env, cwd, 0) for _ in range(args.repeat)]
        torch_ms = statistics.median(reference)
        print(f"tree {args.tree}  python {sys.version.split()[0]}  repeat {args.repeat}  load {open('/proc/loadavg').read().split()[:3]}")
        print(f"{'command':38s} {'median ms':>10s} {'x import torch':>15s}")
        print(f"{'python -c pass':38s} {statistics.median(bare):10.0f} {statistics.median(bare) / torch_ms:15.2f}")
        print(f"{'python -c import torch (reference)':38s} {torch_ms:10.0f} {1.0:15.2f}")
        for label, argv, expect in CASES:
            times = [wall_ms([python, "-m", "dreamlift.cli", *argv, *(["--out", f"{cwd}/run"] if len(argv) > 1 and argv[1] != "--help" else [])], env, cwd, expect) for _ in range(args.repeat)]
            print(f"{label:38s} {statistics.median(times):10.0f} {statistics.median(times) / torch_ms:15.2f}")


if __name__ == "__main__":
    main()
