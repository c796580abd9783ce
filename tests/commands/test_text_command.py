"""`dreamlift text`, `render` and `eval` through the real command line; bad input gives one line."""

import json

import pytest

from dreamlift.cli import main


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "red_cube"
    code = main(["text", "a red cube", "--out", str(out), "--steps", "40", "--quiet", "--no-export", "--refine", "off"])
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
    alpha = image.getchannel("A").getextrema()
    assert alpha == (0, 255)  # the object, and empty space around it


def test_eval_command_prints_scores(small_run, capsys):
    assert main(["eval", str(small_run), "--truth", "a red cube", "--json", "--no-turn"]) == 0
    scores = json.loads(capsys.readouterr().out)
    # the printed numbers are the scores of the run's saved field (JSON keeps floats exactly); no turn was searched
    from dreamlift.evaluation.scores import score_field
    from dreamlift.toyworld import parse_caption
    from dreamlift.training.run_folder import load_stage1

    loaded = load_stage1(small_run)
    expected = score_field(loaded.field, parse_caption("a red cube"), occupancy=loaded.occupancy, search_turn=False).as_dict()
    assert scores == {**expected, "stage": 1, "step": 40}  # a run without refinement: its final stage is the NeRF
    assert scores["turn"] == 0.0 and scores["janus"] is None  # a cube has no front to confuse


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
def test_bad_prompts_give_one_line_and_write_nothing(cli_process, tmp_path, prompt, message):
    cli_process("text", prompt, "--out", tmp_path / "run", "--steps", "5", unchanged=tmp_path).one_line_error(message)


@pytest.mark.parametrize("steps", ["0", "-1", "ten"])
def test_bad_step_counts_are_rejected(cli_process, tmp_path, steps):
    cli_process("text", "a red cube", "--out", tmp_path / "run", "--steps", steps, unchanged=tmp_path).one_line_error(
        "argument --steps:", repr(steps) if steps == "ten" else f"got {steps}"
    )


def test_output_path_that_is_a_file_is_rejected_and_kept(cli_process, tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    cli_process("text", "a red cube", "--out", target, "--steps", "5", unchanged=tmp_path).one_line_error(f"{target} is a file")


def test_unwritable_output_folder_is_rejected(cli_process, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    out = blocker / "run"  # a folder below a file can never be created, even by root
    cli_process("text", "a red cube", "--out", out, "--steps", "5", unchanged=tmp_path).one_line_error(
        f"cannot write to output folder {out}", "choose another --out"
    )


def test_existing_run_is_not_overwritten_without_resume(cli_process, small_run):
    cli_process("text", "a red cube", "--out", small_run, "--steps", "5", unchanged=small_run).one_line_error("already holds a run", "--resume")


def test_resume_continues_to_more_steps(cli_process, tmp_path):
    out = tmp_path / "run"
    assert main(["text", "a red cube", "--out", str(out), "--steps", "10", "--quiet", "--no-export", "--refine", "off"]) == 0
    assert main(["text", "a red cube", "--out", str(out), "--steps", "20", "--quiet", "--no-export", "--resume"]) == 0
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [10, 20]
    cli_process("text", "a blue ball", "--out", out, "--resume", "--steps", "30", unchanged=out).one_line_error("a red cube", "a blue ball")


def test_render_of_a_missing_run_is_one_line(cli_process, tmp_path):
    cli_process("render", tmp_path / "nope", "--elevation", "0", "--azimuth", "0", "--out", tmp_path / "v.png", unchanged=tmp_path).one_line_error(
        f"{tmp_path / 'nope'} does not exist"
    )
