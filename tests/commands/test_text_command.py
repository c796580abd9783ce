"""`dreamlift text`, `render` and `eval` through the real command line; bad input gives one line."""

import json
import os
import subprocess
import sys

import pytest

from dreamlift.cli import main


def run_cli(*args):
    """Run the command in a fresh process, as a user would: (exit code, stdout, stderr)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    done = subprocess.run([sys.executable, "-m", "dreamlift.cli", *args], capture_output=True, text=True, env=env, timeout=600)
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "red_cube"
    code = main(["text", "a red cube", "--out", str(out), "--steps", "40", "--quiet", "--no-export"])
    assert code == 0
    return out


def test_text_command_writes_a_run_folder(small_run):
    record = json.loads((small_run / "config.json").read_text())
    assert record["kind"] == "text" and record["config"]["prompt"] == "a red cube" and record["config"]["steps"] == 40
    rows = [json.loads(line) for line in (small_run / "log.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 40 and all({"loss", "t", "seconds"} <= row.keys() for row in rows)
    assert sorted(p.name for p in (small_run / "checkpoints").glob("*.json"))[-1] == "step-000040.json"
    assert list((small_run / "previews").glob("*.png"))
    assert not [p for p in small_run.rglob("*") if ".tmp" in p.name]  # nothing half-written left behind


def test_render_command_writes_a_png_of_the_requested_size(small_run, tmp_path):
    from PIL import Image

    out = tmp_path / "view.png"
    assert main(["render", str(small_run), "--elevation", "30", "--azimuth", "45", "--size", "48", "--out", str(out)]) == 0
    image = Image.open(out)
    assert image.size == (48, 48) and image.mode == "RGBA"
    alpha = [p[3] for p in image.getdata()]
    assert max(alpha) == 255 and min(alpha) == 0  # the object, and empty space around it


def test_eval_command_prints_scores(small_run, capsys):
    assert main(["eval", str(small_run), "--truth", "a red cube", "--json", "--no-turn"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert set(scores) == {"silhouette_iou", "psnr", "color_error", "turn", "janus"}
    assert 0.0 <= scores["silhouette_iou"] <= 1.0 and scores["janus"] is None


@pytest.mark.parametrize(
    "prompt, message",
    [
        ("", "prompt is empty"),
        ("   ", "prompt is empty"),
        ("a red spaceship", "'spaceship'"),
        ("x" * 100_000, "100000 characters"),
        ("a red\x07 cube", "control characters"),
    ],
)
def test_bad_prompts_give_one_line_and_write_nothing(tmp_path, prompt, message):
    out = tmp_path / "run"
    code, stdout, stderr = run_cli("text", prompt, "--out", str(out), "--steps", "5")
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert len(lines[0]) < 400 and "Traceback" not in stderr
    assert not out.exists()


@pytest.mark.parametrize("steps", ["0", "-1", "ten"])
def test_bad_step_counts_are_rejected(tmp_path, steps):
    out = tmp_path / "run"
    code, _, stderr = run_cli("text", "a red cube", "--out", str(out), "--steps", steps)
    assert code == 2 and len(stderr.strip().splitlines()) == 1 and "--steps" in stderr
    assert not out.exists()


def test_output_path_that_is_a_file_is_rejected_and_kept(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    code, _, stderr = run_cli("text", "a red cube", "--out", str(target), "--steps", "5")
    assert code == 2 and "is a file" in stderr and len(stderr.strip().splitlines()) == 1
    assert target.read_text() == "keep me"


def test_unwritable_output_folder_is_rejected(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    out = blocker / "run"  # a folder below a file can never be created, even by root
    code, _, stderr = run_cli("text", "a red cube", "--out", str(out), "--steps", "5")
    assert code == 2 and "cannot write to output folder" in stderr and len(stderr.strip().splitlines()) == 1


def test_existing_run_is_not_overwritten_without_resume(small_run):
    before = (small_run / "config.json").read_bytes()
    code, _, stderr = run_cli("text", "a red cube", "--out", str(small_run), "--steps", "5")
    assert code == 2 and "--resume" in stderr
    assert (small_run / "config.json").read_bytes() == before


def test_resume_continues_to_more_steps(tmp_path):
    out = tmp_path / "run"
    assert main(["text", "a red cube", "--out", str(out), "--steps", "10", "--quiet", "--no-export"]) == 0
    assert main(["text", "a red cube", "--out", str(out), "--steps", "20", "--quiet", "--no-export", "--resume"]) == 0
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [10, 20]
    code, _, stderr = run_cli("text", "a blue ball", "--out", str(out), "--resume", "--steps", "30")
    assert code == 2 and "a red cube" in stderr


def test_render_of_a_missing_run_is_one_line(tmp_path):
    code, _, stderr = run_cli("render", str(tmp_path / "nope"), "--elevation", "0", "--azimuth", "0", "--out", str(tmp_path / "v.png"))
    assert code == 2 and "does not exist" in stderr and len(stderr.strip().splitlines()) == 1
