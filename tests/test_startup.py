"""Start-up: ``--help`` and argument errors come back before torch (or diffusers, transformers, ray,
trimesh) is imported, in a fresh process, as a user runs them (issue 16, item 3).

Each case runs ``dreamlift.cli.main`` in a new interpreter and reports its exit status and which
heavy modules ended up in ``sys.modules``. What the commands print is checked too, so the
fast path is still the real one: the settings help is generated, the errors are the usual lines.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import dreamlift

HEAVY = ("torch", "diffusers", "transformers", "ray", "trimesh")
REPO = Path(dreamlift.__file__).resolve().parents[1]

PROBE = f"""
import json, sys
from dreamlift import cli
argv = json.loads(sys.argv[1])
if argv is None:
    cli.build_parser()
    code = 0
else:
    try:
        code = cli.main(argv)
    except SystemExit as exit:
        code = exit.code
sys.stdout.flush()
sys.stderr.write("\\nPROBE " + json.dumps({{"code": code, "loaded": [m for m in {HEAVY!r} if m in sys.modules]}}) + "\\n")
"""


def probe(argv: list[str] | None, cwd: Path) -> tuple[int, list[str], str, str]:
    """``(exit status, heavy modules loaded, stdout, stderr without the probe's line)`` of ``dreamlift ARGV``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv)], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    stderr, _, report = done.stderr.rpartition("\nPROBE ")
    assert report, done.stderr[-2000:]
    result = json.loads(report)
    return result["code"], result["loaded"], done.stdout, stderr


def test_building_the_parser_imports_nothing_heavy(tmp_path):
    code, loaded, _, _ = probe(None, tmp_path)
    assert (code, loaded) == (0, [])


@pytest.mark.parametrize(
    "argv, shows",
    [
        (["--help"], ["text", "image", "presets"]),
        (["text", "--help"], ["render.samples_per_ray", "prior stable-diffusion", "prior.guidance_scale", "nerf.encoding"]),
        (["image", "--help"], ["image.loss.rgb", "prior zero123"]),
        (["render", "--help"], ["default 3)", "default 40)"]),
        (["presets"], ["toy", "sd-"]),
    ],
)
def test_help_and_listings_come_back_without_torch(tmp_path, argv, shows):
    code, loaded, out, err = probe(argv, tmp_path)
    assert (code, loaded) == (0, []), err[-2000:]
    for words in shows:
        assert words in out, (words, out[-3000:])


@pytest.mark.parametrize(
    "argv, words",
    [
        (["text"], ["required", "prompt"]),
        (["text", "a red cube", "--steps", "abc"], ["--steps", "'abc'"]),
        (["text", "a red cube", "--seed", "abc"], ["--seed", "'abc'"]),
        (["text", "a red cube", "--seed", "-1"], ["--seed"]),
        (["text", "a red cube", "--set", "render.samples_per_rays=48"], ["unknown setting", "render.samples_per_ray"]),
        (["text", "a red cube", "--set", "steps=abc"], ["steps takes whole number", "'abc'"]),
        (["text", "a red cube", "--set", "size=5"], ["render size 5"]),
        (["text", "a red cube", "--preset", "nosuch"], ["nosuch"]),
        (["text", "a red cube", "--prior", "nosuch"], ["nosuch"]),
        (["render", "RUN", "--elevation", "x", "--azimuth", "0", "--out", "v.png"], ["--elevation", "'x'"]),
    ],
)
def test_argument_errors_come_back_without_torch(tmp_path, argv, words):
    code, loaded, out, err = probe([*argv, *(["--out", str(tmp_path / "run")] if argv[0] == "text" and len(argv) > 1 else [])], tmp_path)
    assert (code, loaded) == (2, []), err[-2000:]
    assert err.startswith("error: ") and err.count("\n") == 1, err[-2000:]
    for word in words:
        assert word in err, (word, err)
    assert list(tmp_path.iterdir()) == [], "an argument error wrote files"


def test_print_config_resolves_the_settings_without_torch(tmp_path):
    code, loaded, out, err = probe(["text", "a red cube", "--set", "prior.name=stable-diffusion", "--print-config"], tmp_path)
    assert (code, loaded) == (0, []), err[-2000:]
    printed = json.loads(out)
    assert printed["config"]["prior"]["name"] == "stable-diffusion" and printed["config"]["prompt"] == "a red cube"
