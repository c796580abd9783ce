"""Start-up time of the ``dreamlift`` command: ``--help``, a command's ``--help``, argument errors,
and ``python -c 'import torch'`` as the reference (issue 16, item 3).

Each command runs in a fresh interpreter (``python -m dreamlift.cli ...``, as the ``dreamlift``
script does) ``--repeat`` times; printed: the median wall time in ms, its ratio to the torch
import of the same run; a command whose exit status is not the expected one stops the bench.
``--tree DIR`` (repeatable) names the checkouts to time, alternately (default: this one).

    python bench/startup.py                                  # this checkout
    python bench/startup.py --tree /tmp/before --tree .      # main (git archive main | tar -x -C /tmp/before) against this one
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
    parser.add_argument("--tree", type=Path, action="append", default=None, help="checkout whose dreamlift is timed (repeat to compare; default this one)")
    parser.add_argument("--repeat", type=int, default=7, help="runs per command and checkout (median reported)")
    args = parser.parse_args()
    trees = [tree.resolve() for tree in (args.tree or [Path(__file__).resolve().parents[1]])]
    python = sys.executable
    envs = [{**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")} for tree in trees]
    print(f"python {sys.version.split()[0]}  repeat {args.repeat}  load before {' '.join(open('/proc/loadavg').read().split()[:3])}")
    for number, tree in enumerate(trees, start=1):
        print(f"  tree {number}: {tree}")
    with tempfile.TemporaryDirectory() as cwd:
        def timed(argv: list[str], env: dict, expect: int) -> float:
            return wall_ms([python, *argv], env, cwd, expect)

        rows = [("python -c pass", ["-c", "pass"], 0, True), ("python -c 'import torch' (reference)", ["-c", "import torch"], 0, True)]
        for label, argv, expect in CASES:
            out = ["--out", f"{cwd}/run"] if len(argv) > 1 and argv[1] != "--help" else []
            rows.append((label, ["-m", "dreamlift.cli", *argv, *out], expect, False))
        results = []
        for label, argv, expect, once in rows:
            times = [[] for _ in trees]
            for _ in range(args.repeat):  # the checkouts alternate, so a busy machine slows them alike
                for index, env in enumerate(envs[:1] if once else envs):
                    times[index].append(timed(argv, env, expect))
            results.append((label, [statistics.median(t) if t else None for t in times]))
        torch_ms = results[1][1][0]
        head = "".join(f"{'tree ' + str(n) + ' ms':>12s}{'x torch':>9s}" for n in range(1, len(trees) + 1))
        print(f"{'command':40s}{head}")
        for label, medians in results:
            cells = "".join(f"{m:12.0f}{m / torch_ms:9.2f}" if m is not None else f"{'':12s}{'':9s}" for m in medians)
            print(f"{label:40s}{cells}")
    print(f"load after {' '.join(open('/proc/loadavg').read().split()[:3])}")


if __name__ == "__main__":
    main()
