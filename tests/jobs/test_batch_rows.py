"""Batch files (jobs/rows.py) and the batch command's checks before anything starts; no Ray needed."""

import json

import pytest

from dreamlift.cli import build_parser, main
from dreamlift.commands.batch import forwarded_options
from dreamlift.errors import DreamliftError
from dreamlift.jobs.rows import read_rows


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_txt_rows_skip_comments_and_get_unique_folders(tmp_path):
    rows = read_rows(write(tmp_path, "p.txt", "# my prompts\na red cube\n\n  a red cube  \nA Red Cube!\na blue ball\n"))
    assert [(r.line, r.kind, r.source) for r in rows] == [(2, "text", "a red cube"), (4, "text", "a red cube"), (5, "text", "A Red Cube!"), (6, "text", "a blue ball")]
    assert [r.out for r in rows] == ["a_red_cube", "a_red_cube_2", "a_red_cube_3", "a_blue_ball"]


def test_csv_columns_become_options_and_set_keys(tmp_path):
    text = "prompt,seed,steps,out,render.samples_per_ray\na red cube,3,50,cube,64\na green tree,,,,\n"
    rows = read_rows(write(tmp_path, "p.csv", text))
    assert rows[0].options == {"--seed": "3", "--steps": "50"} and rows[0].sets == {"render.samples_per_ray": "64"}
    assert rows[0].out == "cube" and rows[0].line == 2
    assert rows[1].options == {} and rows[1].sets == {} and rows[1].out == "a_green_tree"


def test_jsonl_rows_flatten_nested_keys_and_resolve_images(tmp_path):
    text = '{"prompt": "a red cube", "seed": 7, "render": {"samples_per_ray": 64}}\n\n{"image": "pics/chair.png", "prompt": "a chair"}\n'
    rows = read_rows(write(tmp_path, "p.jsonl", text))
    assert rows[0].options == {"--seed": "7"} and rows[0].sets == {"render.samples_per_ray": "64"}
    assert rows[1].kind == "image" and rows[1].source == str(tmp_path / "pics" / "chair.png")
    assert rows[1].prompt == "a chair" and rows[1].out == "chair" and rows[1].line == 3


def test_row_options_override_the_batch_options_in_the_parsed_command(tmp_path):
    """The row's argv, parsed by the real `dreamlift text` parser: the row's seed wins, the batch's steps stay."""
    row = read_rows(write(tmp_path, "p.csv", "prompt,seed\na red cube,5\n"))[0]
    argv = row.argv(tmp_path / "cube", ["--steps", "6", "--seed", "1", "--checkpoint-every", "2", "--no-export"], resume=True)
    args = build_parser().parse_args(argv)
    assert (args.prompt, args.seed, args.steps, args.checkpoint_every) == ("a red cube", 5, 6, 2)
    assert args.no_export and args.resume and args.quiet and args.out == tmp_path / "cube"


def test_row_columns_and_batch_settings_reach_the_runs_config(tmp_path):
    """A column that is a config key and the batch's --set both end up in the settings the row's run resolves."""
    from dreamlift.commands.text import build_config

    row = read_rows(write(tmp_path, "p.csv", "prompt,render.samples_per_ray,prior.elevation_window\na red cube,48,none\n"))[0]
    argv = row.argv(tmp_path / "cube", ["--set", "prior.azimuth_window=25", "--set", "render.samples_per_ray=40", "--steps", "6"], resume=False)
    config = build_config(build_parser().parse_args(argv))
    assert (config.render.samples_per_ray, config.prior.elevation_window, config.prior.azimuth_window, config.steps) == (48, None, 25.0, 6)


def test_batch_run_options_are_forwarded_verbatim():
    args = build_parser().parse_args(
        ["batch", "p.txt", "--out", "o", "--steps", "6", "--seed", "3", "--prior", "toy", "--checkpoint-every", "2",
         "--set", "a.b=1", "--set", "c=2", "--no-export", "--refine", "off"]
    )
    assert forwarded_options(args) == [
        "--steps", "6", "--seed", "3", "--prior", "toy", "--set", "a.b=1", "--set", "c=2", "--checkpoint-every", "2", "--no-export",
        "--refine", "off",
    ]


def test_a_batch_with_refine_off_gives_every_run_refine_off_and_a_bad_value_is_refused_before_any_run(tmp_path, cli):
    from dreamlift.commands.text import build_config

    table = tmp_path / "p.txt"
    table.write_text("a red cube\n")
    row = read_rows(table)[0]
    args = build_parser().parse_args(["batch", str(table), "--out", "o", "--refine", "off"])
    assert build_config(build_parser().parse_args(row.argv(tmp_path / "cube", forwarded_options(args), resume=False))).refine.enabled is False
    assert build_config(build_parser().parse_args(row.argv(tmp_path / "cube", [], resume=False))).refine.enabled is True  # the toy preset's
    cli("batch", table, "--out", tmp_path / "batch", "--refine", "maybe", unchanged=tmp_path).one_line_error("--refine", "invalid choice: 'maybe'")


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("dup.csv", "prompt,out\na red cube,x\na blue cube,x\n", "also the out of line 2"),
        ("dup.jsonl", '{"prompt": "a red cube", "out": "x"}\n{"prompt": "a blue cube", "out": "x"}\n', "also the out of line 1"),
        ("bad.jsonl", '{"prompt": "a red cube"}\n{"prompt": \n', "bad.jsonl:2: not valid JSON"),
        ("nocol.csv", "text,seed\na red cube,1\n", "no 'prompt' or 'image' column"),
        ("wide.csv", "prompt\na red cube,1\n", "2 cells but the header has 1"),
        ("escape.csv", "prompt,out\na red cube,../elsewhere\n", "must be a folder name inside"),
        ("empty.txt", "# nothing\n\n", "has no rows"),
        ("prompts.yaml", "a red cube\n", "not .txt, .csv or .jsonl"),
    ],
)
def test_bad_batch_files_are_one_line_errors(tmp_path, name, text, message):
    with pytest.raises(DreamliftError, match=message) as caught:
        read_rows(write(tmp_path, name, text))
    assert "\n" not in str(caught.value)


def test_batch_command_refuses_a_bad_file_before_anything_starts(tmp_path, capsys):
    out = tmp_path / "batch"
    duplicate = write(tmp_path, "dup.csv", "prompt,out\na red cube,x\na blue cube,x\n")
    for argv in (
        ["batch", str(duplicate), "--out", str(out)],
        ["batch", str(tmp_path / "missing.txt"), "--out", str(out)],
        ["batch", str(tmp_path), "--out", str(out)],  # a folder, not a file
        ["batch", str(write(tmp_path, "p.txt", "a red cube\n")), "--out", str(out), "--checkpoint-every", "0"],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err
        assert not out.exists()  # nothing written, no Ray started


def test_unreadable_batch_file_is_a_one_line_error(tmp_path, capsys):
    path = tmp_path / "p.txt"
    path.write_bytes(b"a red cube\n\xff\xfe bad bytes\n")
    assert main(["batch", str(path), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == f"error: batch file {path} is not UTF-8 text\n"


def test_run_progress_reads_where_a_folder_stands(tmp_path):
    from dreamlift.training.run_folder import run_progress

    assert run_progress(tmp_path / "none") == run_progress(tmp_path)  # neither holds a run
    assert not run_progress(tmp_path).started
    folder = tmp_path / "cube"
    assert main(["text", "a red cube", "--out", str(folder), "--steps", "4", "--checkpoint-every", "2", "--no-export", "--quiet", "--refine", "off"]) == 0
    progress = run_progress(folder)
    assert (progress.started, progress.step, progress.steps, progress.finished) == (True, 4, 4, True)
    (folder / "checkpoints" / "step-000004.json").unlink()
    progress = run_progress(folder)
    assert (progress.step, progress.finished) == (2, False)
    record = json.loads((folder / "config.json").read_text())
    record["config"]["export_mesh"] = True
    (folder / "config.json").write_text(json.dumps(record))
    (folder / "checkpoints" / "step-000004.json").write_text("{}")
    assert not run_progress(folder).finished  # trained, but mesh.glb not written yet


def test_default_workers_fit_the_clusters_cpus_and_gpus():
    from dreamlift.jobs.batch import default_workers

    assert default_workers({"CPU": 16.0, "GPU": 4.0}, cpus_per_run=4, gpus_per_run=1) == 4
    assert default_workers({"CPU": 16.0, "GPU": 4.0}, cpus_per_run=1, gpus_per_run=0.5) == 8  # two runs a GPU
    assert default_workers({"CPU": 16.0, "GPU": 4.0}, cpus_per_run=1, gpus_per_run=0) == 16
    assert default_workers({"CPU": 2.0}, cpus_per_run=4, gpus_per_run=0) == 1  # never none


def test_ray_missing_is_a_one_line_error_naming_the_extra(monkeypatch, tmp_path, capsys):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    assert main(["batch", str(write(tmp_path, "p.txt", "a red cube\n")), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == "error: dreamlift batch needs Ray, which is not installed: pip install 'dreamlift[ray]'\n"
    assert not (tmp_path / "o").exists()
