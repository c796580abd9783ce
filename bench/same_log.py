"""Do two source trees train the same numbers? Runs the same short NeRF run with each and compares ``log.jsonl``.

    python bench/same_log.py --tree /tmp/before --tree .   [--steps 60] [--prompt "a red cube"]

Each tree runs ``dreamlift text PROMPT --steps N --refine off --no-export --set log_every=1`` in a
fresh process (``PYTHONPATH`` the tree, one thread), then every logged key but ``seconds`` is compared
line by line. Prints the lines and keys compared and any difference; exits 1 when the logs differ.
Extra ``--set`` values (``--set representation.name=gaussians``) are passed to every run. With
``--refine-steps N`` the runs refine too (``--refine on --set refine.steps=N``) and ``refine/log.jsonl``
is compared as well.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

RUN = "import sys; from dreamlift.cli import main; sys.argv[0] = 'dreamlift'; sys.exit(main())"


def run_tree(tree: Path, out: Path, args: argparse.Namespace) -> list[dict]:
    refine = ["--refine", "on", "--set", f"refine.steps={args.refine_steps}", "--set", "refine.log_every=1"] if args.refine_steps else ["--refine", "off"]
    command = [sys.executable, "-c", RUN, "text", args.prompt, "--out", str(out), "--steps", str(args.steps), *refine, "--no-export", "--quiet"]
    for setting in ["log_every=1", *args.set]:
        command += ["--set", setting]
    env = dict(os.environ, PYTHONPATH=str(tree.resolve()), OMP_NUM_THREADS="1")
    subprocess.run(command, check=True, env=env, cwd=tree)
    logs = [out / "log.jsonl"] + ([out / "refine" / "log.jsonl"] if args.refine_steps else [])
    return [dict(json.loads(line), log=log.relative_to(out).as_posix()) for log in logs for line in log.read_text().splitlines() if line.strip()]


def differences(a: list[dict], b: list[dict]) -> list[str]:
    found = [] if len(a) == len(b) else [f"{len(a)} lines against {len(b)}"]
    for row_a, row_b in zip(a, b):
        keys = (set(row_a) | set(row_b)) - {"seconds"}
        for key in sorted(keys):
            if row_a.get(key) != row_b.get(key):
                found.append(f"step {row_a.get('step')}: {key} {row_a.get(key)!r} != {row_b.get(key)!r}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", type=Path, action="append", required=True, help="a source tree (give two)")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--prompt", default="a red cube")
    parser.add_argument("--set", action="append", default=[], help="KEY=VALUE for every run")
    parser.add_argument("--refine-steps", type=int, default=0, help="also refine this many steps and compare refine/log.jsonl")
    args = parser.parse_args()
    if len(args.tree) != 2:
        parser.error("give exactly two --tree")
    with tempfile.TemporaryDirectory() as scratch:
        logs = [run_tree(tree, Path(scratch) / f"run{index}", args) for index, tree in enumerate(args.tree)]
    found = differences(*logs)
    keys = sorted(set().union(*logs[0]) - {"seconds"}) if logs[0] else []
    print(f"{args.tree[0]} vs {args.tree[1]}: {len(logs[0])} and {len(logs[1])} log lines; compared keys {', '.join(keys)} (all but seconds)")
    for line in found[:20]:
        print("  differs:", line)
    print("identical" if not found else f"{len(found)} differences")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
