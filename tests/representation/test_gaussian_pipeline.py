"""Gaussian runs through the library API: text runs end with splats.ply, both meshes and the turntable, refined from
the Gaussians' Field; image runs match their input view with the Gaussians' render."""

import json

import torch

from dreamlift.pipeline import Run, make_run, resolve_config
from dreamlift.refine.asset import _load_colour
from dreamlift.scene.albedo_grid import AlbedoGrid

SMALL = [
    "representation.name=gaussians", "representation.init.count=300", "representation.init.scale=0.04", "representation.init.opacity=0.5",
    "representation.densify_every=4", "prior.renders_per_object=64", "refine.tet_resolution=20", "refine.batch_size=1",
    "refine.preview_size=32",
]


def test_a_gaussian_text_run_writes_splats_meshes_and_turntable_and_refines_from_the_gaussians(tmp_path):
    config = resolve_config("text", settings=["prompt=a green tree", "steps=8", "refine.steps=2", "turntable_size=16", *SMALL])
    result = make_run(config, tmp_path / "tree")
    assert {"splats.ply", "mesh.glb", "mesh-stage1.glb", "turntable.mp4"} <= set(result.written)
    assert all((tmp_path / "tree" / name).stat().st_size > 0 for name in ("splats.ply", "mesh.glb", "mesh-stage1.glb", "turntable.mp4"))
    run = Run.open(tmp_path / "tree")
    assert run.config.representation.name == "gaussians" and run.final_stage == 2
    log = [json.loads(line) for line in (tmp_path / "tree" / "log.jsonl").read_text().splitlines()]
    assert "cloned" in log[-1] or any("cloned" in row for row in log)  # densified at steps 4 and 8 (logged when it happens)
    asset = run.asset(1)
    assert len(asset.field.model) == int(log[-1]["gaussians"])
    refined = run.asset(2)
    assert isinstance(refined.field, AlbedoGrid)  # the refinement fine-tuned the Gaussians' albedo baked into a grid
    vertices = refined.surface.surface.vertices
    density, albedo = asset.field(vertices)
    change = (refined.field.albedo(vertices) - albedo).detach().abs()[density > 1e-5]  # elsewhere the Gaussians' albedo is grey
    assert float(change.mean()) < 0.03  # measured 0.012: 300 sparse Gaussians of random colours, trained 8 steps, at 64³
    older = _load_colour(asset.field.state_dict(), run.config, asset.field)  # a refinement that fine-tuned the Gaussians' colours
    assert type(older) is type(asset.field) and torch.equal(older.model.colour_logits, asset.field.model.colour_logits)


def test_a_gaussian_image_run_matches_its_input_view(tmp_path):
    from dreamlift._atomic import write_png
    from dreamlift.pipeline.image_inputs import ImageSource, prepare_views
    from dreamlift.rendering.cameras import OrbitCameras
    from dreamlift.rendering.shading import sample_lights
    from dreamlift.toyworld import parse_caption, render

    camera = OrbitCameras.make(0.0, 30.0, 3.0, 40.0)
    png = tmp_path / "chair.png"
    write_png(png, render(parse_caption("a red chair"), camera, 32, lights=sample_lights(camera, generator=torch.Generator().manual_seed(0)))[0])
    config = resolve_config("image", settings=["steps=6", "log_every=1", "refine.enabled=false", "export_mesh=false", "export_video=false", *SMALL])
    views, candidates = prepare_views(config, ImageSource(image=png))
    make_run(config, tmp_path / "run", "image", views=views, candidates=candidates)
    rows = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and all(row["loss_reference_rgb"] > 0 and row["loss_reference_mask"] > 0 for row in rows)
    assert rows[-1]["loss_reference_rgb"] < rows[0]["loss_reference_rgb"]  # the reference view is pulled towards the input image


def test_the_dreamgaussian_image_preset_distils_zero123_into_gaussians_and_matches_the_input_view(tmp_path):
    """``--preset dreamgaussian-image``: the Zero-1-to-3 guidance (here the shipped toy-zero123) into Gaussians, DreamGaussian's
    reference weights (10000 · rgb, 1000 · mask) on every step, albedo shading."""
    from dreamlift._atomic import write_png
    from dreamlift.pipeline.image_inputs import ImageSource, prepare_views
    from dreamlift.rendering.cameras import OrbitCameras
    from dreamlift.rendering.shading import head_lights
    from dreamlift.toyworld import parse_caption, render

    camera = OrbitCameras.make(10.0, 20.0, 3.0, 40.0)
    png = tmp_path / "chair.png"
    write_png(png, render(parse_caption("a blue chair"), camera, 64, lights=head_lights(camera))[0])
    config = resolve_config(
        "image", preset="dreamgaussian-image",
        settings=["prior.model=dreamlift/toy-zero123", "size=64", "steps=12", "log_every=1", "refine.enabled=false", "export_mesh=false",
                  "export_video=false", "representation.init.count=500"],
    )
    assert (config.prior.name, config.representation.name, config.image.loss.rgb, config.image.loss.mask) == ("zero123", "gaussians", 1e4, 1e3)
    views, candidates = prepare_views(config, ImageSource(image=png))
    make_run(config, tmp_path / "run", "image", views=views, candidates=candidates)
    rows = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and all(torch.isfinite(torch.tensor([row["sds"], row["loss_reference_rgb"]])).all() for row in rows)
    rgb = [row["loss_reference_rgb"] for row in rows]
    assert all(later < earlier for earlier, later in zip(rgb, rgb[1:]))  # every step pulls the grey ball towards the blue chair
    assert rgb[-1] < 0.9 * rgb[0]  # measured 0.85 after 12 steps at DreamGaussian's small rates (711 -> 606)


def test_a_gaussian_refinement_resumes_exactly_as_an_uninterrupted_one(tmp_path):
    """The resumed refinement's colour grid comes from its checkpoint (no bake), box included."""
    import shutil

    from dreamlift.cli import main

    settings = [item for setting in ["refine.checkpoint_every=2", "refine.log_every=1", *SMALL] for item in ("--set", setting)]
    stage1 = tmp_path / "stage1"
    assert main(["text", "a red cube", "--out", str(stage1), "--steps", "8", "--refine", "off", "--no-export", "--quiet", *settings]) == 0
    settings = settings[: settings.index(SMALL[0]) - 1]  # the refine command takes refine.* settings only
    straight, split = shutil.copytree(stage1, tmp_path / "straight"), shutil.copytree(stage1, tmp_path / "split")
    assert main(["refine", str(straight), "--steps", "4", "--quiet", "--no-export", *settings]) == 0
    assert main(["refine", str(split), "--steps", "2", "--quiet", "--no-export", *settings]) == 0
    assert main(["refine", str(split), "--steps", "4", "--resume", "--quiet", "--no-export"]) == 0
    rows = [[{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in (run / "refine" / "log.jsonl").read_text().splitlines()] for run in (straight, split)]
    assert rows[0] == rows[1] and [row["step"] for row in rows[1]] == [1, 2, 3, 4]
