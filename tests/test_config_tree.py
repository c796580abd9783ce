"""The settings tree: every field type parsed from ``--set`` text and from JSON, unknown keys, wrong types, docstrings."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

import dreamlift
from dreamlift.config_tree import field_docs, from_dict, leaf_keys, merge, set_value, to_dict
from dreamlift.errors import DreamliftError
from dreamlift.guidance.base import Weighting
from dreamlift.guidance.stable_diffusion import StableDiffusionConfig
from dreamlift.guidance.toy import ToyPriorConfig
from dreamlift.presets import PRESETS, toy_image, toy_text
from dreamlift.scene.background import BackgroundKind
from dreamlift.training.config import TrainConfig


@pytest.mark.parametrize(
    "key, text, expected",
    [
        ("steps", "17", 17),  # int
        ("learning_rate", "0.125", 0.125),  # float
        ("learning_rate", "3", 3.0),  # an int where a float goes
        ("export_mesh", "off", False),  # bool
        ("export_video", "Yes", True),
        ("device", "cpu", "cpu"),  # str
        ("background", "random", BackgroundKind.RANDOM),  # enum by value
        ("prior.weighting", "UNIFORM", Weighting.UNIFORM),  # enum, any case
        ("prior.elevation_window", "none", None),  # optional
        ("prior.elevation_window", "12.5", 12.5),
        ("shading.ambient", "0.2,0.45", (0.2, 0.45)),  # fixed-length tuple, comma form
        ("cameras.elevation", "[-5, 40]", (-5.0, 40.0)),  # ... and JSON form
        ("nerf.grid_resolutions", "8,16,32", (8, 16, 32)),  # variadic tuple
        ("losses.orientation.end", "250", 250.0),  # nested section
        ("prior.timesteps.t_max_end", "0.5", 0.5),  # nested in the prior
    ],
)
def test_set_parses_each_field_type(key, text, expected):
    config = toy_text()
    set_value(config, key, text)
    owner = config
    for part in key.split(".")[:-1]:
        owner = getattr(owner, part)
    value = getattr(owner, key.split(".")[-1])
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    "key, text, words",
    [
        ("steps", "1.5", ["steps", "whole number", "'1.5'"]),
        ("learning_rate", "nan", ["learning_rate", "number", "'nan'"]),
        ("learning_rate", "inf", ["learning_rate", "number"]),
        ("export_mesh", "maybe", ["export_mesh", "true|false", "'maybe'"]),
        ("background", "purple", ["background", "fixed|random|learned", "'purple'"]),
        ("shading.ambient", "0.2", ["shading.ambient", "2 numbers", "'0.2'"]),
        ("steps", "none", ["steps", "whole number"]),  # not optional
        ("render.samples_per_ray", "", ["render.samples_per_ray", "whole number"]),
    ],
)
def test_set_refuses_a_value_of_the_wrong_type(key, text, words):
    config = toy_text()
    before = to_dict(config)
    with pytest.raises(DreamliftError) as caught:
        set_value(config, key, text)
    assert all(word in str(caught.value) for word in words), str(caught.value)
    assert to_dict(config) == before  # nothing changed


@pytest.mark.parametrize(
    "key, suggestion",
    [
        ("rendr.samples_per_ray", "render.samples_per_ray"),
        ("samples_per_ray", "render.samples_per_ray"),  # the last part alone
        ("render.sample_per_ray", "render.samples_per_ray"),
        ("prior.azimuth_windw", "prior.azimuth_window"),
        ("learnin_rate", "learning_rate"),
    ],
)
def test_an_unknown_key_names_the_closest_keys(key, suggestion):
    with pytest.raises(DreamliftError) as caught:
        set_value(toy_text(), key, "1")
    message = str(caught.value)
    assert message.startswith(f"unknown setting {key!r}") and suggestion in message


def test_a_section_is_not_a_setting_and_a_prior_key_belongs_to_its_prior():
    with pytest.raises(DreamliftError, match=r"cameras is a section.*--set cameras\.elevation="):
        set_value(toy_text(), "cameras", "1")
    with pytest.raises(DreamliftError, match="unknown setting 'prior.guidance_scal'.*prior.guidance_scale"):
        set_value(toy_text(), "prior.guidance_scal", "3")
    with pytest.raises(DreamliftError, match="unknown setting 'prior.negative_prompt'"):  # an SD key on the toy prior
        set_value(toy_text(), "prior.negative_prompt", "blurry")


def test_setting_the_prior_name_switches_the_prior_class():
    config = toy_text()
    set_value(config, "prior.name", "stable-diffusion")
    assert type(config.prior) is StableDiffusionConfig and config.prior.guidance_scale == StableDiffusionConfig().guidance_scale
    set_value(config, "prior.guidance_scale", "7.5")
    set_value(config, "prior.name", "stable-diffusion")  # the same name keeps the settings
    assert config.prior.guidance_scale == 7.5
    with pytest.raises(DreamliftError, match="prior.name 'sd' is not one of toy, stable-diffusion, deepfloyd-if"):
        set_value(config, "prior.name", "sd")


def test_json_round_trip_of_every_preset_is_exact():
    for preset in PRESETS:
        config = preset.build()
        data = to_dict(config)
        again = from_dict(TrainConfig, data)
        assert again == config, preset.name
        assert type(again.prior) is type(config.prior)


def test_from_dict_names_the_key_of_a_bad_value_and_keeps_defaults_for_missing_keys():
    config = from_dict(TrainConfig, {"steps": 9, "render": {"samples_per_ray": 40}, "prior": {"name": "toy", "azimuth_window": 30}})
    assert (config.steps, config.render.samples_per_ray, config.render.bound) == (9, 40, 1.0)
    assert config.prior == dataclasses.replace(ToyPriorConfig(), azimuth_window=30.0)
    with pytest.raises(DreamliftError, match=r"render\.samples_per_ray takes whole number, got '40'"):
        from_dict(TrainConfig, {"render": {"samples_per_ray": "40"}})
    with pytest.raises(DreamliftError, match=r"unknown setting 'render\.samples'.*render\.samples_per_ray"):
        from_dict(TrainConfig, {"render": {"samples": 40}})
    with pytest.raises(DreamliftError, match=r"prior\.name 'dall-e' is not one of"):
        from_dict(TrainConfig, {"prior": {"name": "dall-e"}})
    with pytest.raises(DreamliftError, match="render must be a section"):
        from_dict(TrainConfig, {"render": 3})


def test_merge_lays_sections_over_each_other_and_a_new_prior_replaces_the_old():
    base = to_dict(toy_text())
    merged = merge(base, {"render": {"samples_per_ray": 48}, "prior": {"azimuth_window": 25.0}})
    assert merged["render"] == {**base["render"], "samples_per_ray": 48}
    assert merged["prior"] == {**base["prior"], "azimuth_window": 25.0}
    switched = merge(base, {"prior": {"name": "stable-diffusion", "guidance_scale": 7.5}})
    assert switched["prior"] == {"name": "stable-diffusion", "guidance_scale": 7.5}
    assert from_dict(TrainConfig, switched).prior == dataclasses.replace(StableDiffusionConfig(), guidance_scale=7.5)


def test_every_setting_has_a_docstring():
    for config in (toy_text(), toy_image()):
        missing = [key for key, (_, _, doc) in leaf_keys(config).items() if not doc]
        assert missing == []
    for preset in PRESETS:
        missing = [key for key, (_, _, doc) in leaf_keys(preset.build().prior).items() if not doc]
        assert missing == [], preset.name
    assert field_docs(ToyPriorConfig)["timesteps"].startswith("Diffusion timestep range")
    assert field_docs(StableDiffusionConfig)["perp_neg"].startswith("Perp-Neg against the Janus failure")  # inherited


def test_guidance_never_imports_training():
    folder = Path(dreamlift.__file__).parent / "guidance"
    offenders = []
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names] if isinstance(node, ast.Import) else []
            level = getattr(node, "level", 0)
            offenders += [f"{path.name}: {n}" for n in names if n.startswith("dreamlift.training") or (level and n.startswith("training"))]
            if isinstance(node, ast.ImportFrom) and level >= 2 and (node.module or "").startswith("training"):
                offenders.append(f"{path.name}: ..{node.module}")
    assert offenders == []


def test_public_api_exports_the_main_types():
    import dreamlift.guidance.toy
    import dreamlift.training.trainer

    assert dreamlift.Trainer is dreamlift.training.trainer.Trainer
    assert dreamlift.ToyPriorConfig is dreamlift.guidance.toy.ToyPriorConfig
    assert set(dreamlift.__all__) >= {"TrainConfig", "Trainer", "Guidance", "Run", "make_run", "resolve_config", "ToyPriorConfig", "StableDiffusionConfig", "Zero123Config"}
    assert all(getattr(dreamlift, name) is not None for name in dreamlift.__all__)
    with pytest.raises(AttributeError):
        dreamlift.NoSuchThing  # noqa: B018
