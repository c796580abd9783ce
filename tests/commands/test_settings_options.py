"""``--preset``, ``--config``, ``--set``, ``--print-config``, ``--help`` and ``dreamlift presets`` through the real command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dreamlift.cli import main
from dreamlift.config_tree import from_dict, leaf_keys, to_dict
from dreamlift.presets import PRESETS, preset_config, toy_text
from dreamlift.training.config import TrainConfig


def resolved(capsys, *argv) -> dict:
    """The settings ``dreamlift ... --print-config`` resolves (and checks it ran nothing)."""
    assert main([*argv, "--print-config"]) == 0, capsys.readouterr().err
    printed = json.loads(capsys.readouterr().out)
    return printed["config"]


def test_a_run_with_set_then_its_config_json_gives_the_same_settings(tmp_path, capsys):
    """The issue's check: --set reaches config.json, and a run's config.json repeats the run exactly."""
    first, second = tmp_path / "A", tmp_path / "C"
    argv = ["text", "a red cube", "--steps", "2", "--refine", "off", "--set", "render.samples_per_ray=48", "--set", "prior.renders_per_object=64"]
    assert main([*argv, "--no-export", "--quiet", "--out", str(first)]) == 0
    saved = json.loads((first / "config.json").read_text())["config"]
    assert saved["render"]["samples_per_ray"] == 48 and saved["prior"]["renders_per_object"] == 64 and saved["steps"] == 2
    assert main(["text", "a red cube", "--config", str(first / "config.json"), "--quiet", "--out", str(second)]) == 0
    assert json.loads((second / "config.json").read_text())["config"] == saved
    first_log = [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in (first / "log.jsonl").read_text().splitlines()]
    second_log = [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in (second / "log.jsonl").read_text().splitlines()]
    assert first_log == second_log and len(first_log) >= 1  # the same settings train the same steps (a CPU run repeats)


def test_precedence_preset_then_config_then_set_then_named_flags(tmp_path, capsys):
    settings = tmp_path / "settings.yaml"
    settings.write_text("steps: 7\nrender:\n  samples_per_ray: 40\nprior:\n  azimuth_window: 25\n")
    only_file = resolved(capsys, "text", "a red cube", "--config", str(settings))
    assert (only_file["steps"], only_file["render"]["samples_per_ray"], only_file["prior"]["azimuth_window"]) == (7, 40, 25.0)
    assert only_file["prior"]["elevation_window"] == 15.0 and only_file["render"]["bound"] == 1.0  # the rest is the preset's
    with_set = resolved(capsys, "text", "a red cube", "--config", str(settings), "--set", "steps=8")
    assert with_set["steps"] == 8 and with_set["render"]["samples_per_ray"] == 40
    with_flag = resolved(capsys, "text", "a red cube", "--config", str(settings), "--set", "steps=8", "--steps", "9")
    assert with_flag["steps"] == 9


def test_print_config_of_each_preset_is_the_preset(capsys):
    for preset in PRESETS:
        argv = ["text", "a red cube"] if preset.kind == "text" else ["image", "unused.png"]
        model = ["--model", "/models/zero123-xl"] if preset.name in ("zero123", "magic123", "dreamgaussian-image") else []  # zero123 has no default model
        printed = resolved(capsys, *argv, "--preset", preset.name, *model)
        expected = to_dict(preset.build())
        if preset.kind == "text":
            expected["prompt"] = "a red cube"
        if model:
            expected["prior"]["model"] = model[1]
        assert printed == expected, preset.name


def test_prior_flag_picks_its_default_preset_and_named_flags_set_prior_keys(capsys):
    sd = resolved(capsys, "text", "a hamburger", "--prior", "stable-diffusion", "--guidance-scale", "7.5", "--negative", "blurry", "--perp-neg")
    assert sd == {**to_dict(preset_config("sd-dreamfusion")), "prompt": "a hamburger", "prior": {**sd["prior"]}}
    assert (sd["prior"]["name"], sd["prior"]["guidance_scale"], sd["prior"]["negative_prompt"], sd["prior"]["perp_neg"]) == (
        "stable-diffusion", 7.5, "blurry", True
    )
    image = resolved(capsys, "image", "unused.png", "--prior", "toy")
    assert image["prior"]["name"] == "toy-view" and image["steps"] == 500
    assert image["refine"]["enabled"] is True  # image runs refine by default, as text runs do
    assert resolved(capsys, "image", "unused.png", "--refine", "off")["refine"]["enabled"] is False


def test_the_steps_flags_name_their_stage(capsys):
    text = resolved(capsys, "text", "a red cube", "--steps", "7", "--refine-steps", "9")
    assert (text["steps"], text["refine"]["steps"], text["refine"]["enabled"]) == (7, 9, True)


def test_presets_command_lists_every_preset_and_prints_one(capsys):
    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [p.name for p in PRESETS]
    assert all(p.description in line for p, line in zip(PRESETS, lines))
    assert main(["presets", "sd-perp-neg"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == {"kind": "text", "config": to_dict(preset_config("sd-perp-neg"))}


def test_help_lists_every_setting_with_its_docstring(capsys):
    with pytest.raises(SystemExit) as done:
        main(["text", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for key in leaf_keys(toy_text()):
        if key != "image":
            assert f"  {key} = " in text, key
    for key in leaf_keys(preset_config("sd-dreamfusion").prior):
        assert f"  prior.{key} = " in text or key == "name", key
    assert "Samples along each ray inside the bounding sphere." in text
    assert text.index("--steps") < text.index("settings (--set KEY=VALUE")  # the common flags first
    with pytest.raises(SystemExit):
        main(["image", "--help"])
    image_help = capsys.readouterr().out
    for key in leaf_keys(preset_config("toy-image")):
        assert f"  {key} = " in image_help, key
    assert "  prior.model = " in image_help and "Zero-1-to-3" in image_help


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--set", "render.samples=3"], ["unknown setting 'render.samples'", "render.samples_per_ray"]),
        (["--set", "render.samples_per_ray=many"], ["render.samples_per_ray takes whole number", "'many'"]),
        (["--set", "steps"], ["--set takes KEY=VALUE"]),
        (["--preset", "fastest"], ["unknown preset 'fastest'", "toy"]),
        (["--preset", "zero123"], ["preset 'zero123' is for image runs"]),
        (["--dtype", "fp16"], ["--dtype is not a setting of the toy prior", "stable-diffusion"]),
        (["--config", "/nonexistent/settings.json"], ["does not exist"]),
        (["--set", "prior.name=zero123"], ["zero123 prior is for image runs"]),
        (["--set", "checkpoint_every=0"], ["checkpoint_every must be at least 1"]),
    ],
)
def test_bad_settings_are_one_line_errors_and_write_nothing(tmp_path, cli, argv, words):
    cli("text", "a red cube", "--out", tmp_path / "run", *argv, unchanged=tmp_path).one_line_error(*words)


def test_bad_config_files_are_one_line_errors(tmp_path, cli):
    broken = tmp_path / "broken.json"
    broken.write_text('{"steps": 3,')
    cli("text", "a red cube", "--config", str(broken), "--print-config", unchanged=tmp_path).one_line_error("is not valid JSON")
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("steps: [3\n")
    cli("text", "a red cube", "--config", str(bad_yaml), "--print-config", unchanged=tmp_path).one_line_error("is not valid YAML")
    wrong_type = tmp_path / "wrong.json"
    wrong_type.write_text('{"render": {"samples_per_ray": 2.5}}')
    cli("text", "a red cube", "--config", str(wrong_type), "--print-config", unchanged=tmp_path).one_line_error("render.samples_per_ray takes whole number, got 2.5")
    image_run = tmp_path / "image-config.json"
    image_run.write_text(json.dumps({"kind": "image", "format": 2, "config": to_dict(preset_config("toy-image"))}))
    cli("text", "a red cube", "--config", str(image_run), "--print-config", unchanged=tmp_path).one_line_error("config of a image run")
    cli("text", "a red cube", "--config", str(tmp_path), "--print-config", unchanged=tmp_path).one_line_error("is a folder")


def test_a_resumed_run_refuses_new_settings(tmp_path, cli):
    out = tmp_path / "run"
    assert main(["text", "a red cube", "--steps", "2", "--refine", "off", "--set", "prior.renders_per_object=64", "--no-export", "--quiet", "--out", str(out)]) == 0
    for extra in (("--set", "steps=5"), ("--preset", "toy"), ("--config", out / "config.json")):
        cli("text", "a red cube", "--resume", "--out", out, *extra, unchanged=out).one_line_error(
            f"a resumed run keeps its saved settings: drop {extra[0]}"
        )


def test_format_1_run_configs_are_read_as_the_same_settings():
    from dreamlift.training.run_folder import upgrade_config

    data = Path(__file__).parents[1] / "training" / "data"
    from dreamlift.config_tree import from_dict
    from dreamlift.refine.config import RefineConfig
    from dreamlift.training.config import TrainConfig

    text = upgrade_config(json.loads((data / "format1-text-config.json").read_text()), data)
    expected = to_dict(toy_text())
    expected.update(prompt="a red cube", steps=2, export_mesh=False, export_video=False)
    expected["refine"] = to_dict(RefineConfig())  # added after format 1: RefineConfig's defaults, not the toy preset's
    expected["views"] = "random"  # likewise: an old run resumes with the views it was trained with
    assert to_dict(from_dict(TrainConfig, text)) == expected  # settings added since format 1 read as their defaults
    image = upgrade_config(json.loads((data / "format1-image-config.json").read_text()), data)
    expected_image = to_dict(preset_config("toy-image"))
    read = to_dict(from_dict(TrainConfig, image))  # keys added since format 1 (image.loss.normal, ...) take their defaults
    assert read["prior"] == expected_image["prior"] and read["image"]["loss"] == expected_image["image"]["loss"]
    assert image["steps"] == 2 and image["image"]["views"][0]["file"] == "input.png"
