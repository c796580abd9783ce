"""The trained folders are read by the real loaders: diffusers' StableDiffusionPipeline, the project's
Stable Diffusion and Zero-1-to-3 guidance; they hold the trained weights, and training conditioned the
UNet exactly as the guidance will (same caption tokens, same pose tokens, same concatenated latent)."""

from __future__ import annotations

import torch

from dreamlift.guidance.base import TimestepSchedule
from dreamlift.rendering.cameras import OrbitCameras


def _same_weights(loaded: torch.nn.Module, trained: torch.nn.Module) -> None:
    theirs = trained.state_dict()
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, theirs[key]), key


def test_text_folder_loads_in_diffusers_and_samples(trained_text):
    from diffusers import StableDiffusionPipeline
    from transformers import CLIPTokenizer

    folder = trained_text.out / "model"
    pipe = StableDiffusionPipeline.from_pretrained(folder, local_files_only=True)
    _same_weights(pipe.unet, trained_text.components.unet)
    _same_weights(pipe.text_encoder, trained_text.components.text_encoder)
    assert pipe.vae.config.scaling_factor == trained_text.components.vae.config.scaling_factor != 0.18215
    tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer", local_files_only=True)
    assert tokenizer.convert_ids_to_tokens(tokenizer("a red cube, front view").input_ids)[1:-1] == ["a</w>", "red</w>", "cube</w>", ",</w>", "front</w>", "view</w>"]
    image = pipe("a red cube, front view", num_inference_steps=2, guidance_scale=3.0, output_type="np",
                 generator=torch.Generator().manual_seed(0)).images
    assert image.shape == (1, 32, 32, 3) and float(image.min()) >= 0.0 and float(image.max()) <= 1.0


def test_text_folder_drives_the_stable_diffusion_guidance(trained_text):
    from dreamlift.guidance.stable_diffusion import StableDiffusionConfig, build_stable_diffusion_guidance
    from dreamlift.learned.data import caption_ids

    guidance = build_stable_diffusion_guidance("a red cube", StableDiffusionConfig(model=str(trained_text.out / "model")), TimestepSchedule(), device="cpu")
    assert guidance.input_size == 32
    latents = guidance.encode(torch.rand(2, 32, 32, 3))
    assert latents.shape == (2, 4, 8, 8)
    eps = guidance.predict_noise(torch.randn(2, 4, 8, 8), torch.tensor([300, 700]), OrbitCameras.make([10.0, 20.0], [0.0, 180.0]))
    assert eps.shape == (2, 4, 8, 8) and torch.isfinite(eps).all()
    # the guidance's front-view and unconditional embeddings are what training fed the UNet
    trained = trained_text.components
    ids = caption_ids(["a red cube, front view", ""], trained.tokenizer, 16)
    with torch.no_grad():
        expected = trained.text_encoder(ids)[0]
    assert torch.allclose(guidance.embeddings.views[0], expected[0], atol=1e-6)
    assert torch.allclose(guidance.embeddings.uncond, expected[1], atol=1e-6)


def test_view_folder_drives_the_zero123_guidance(trained_view):
    from dreamlift.guidance.priors import Zero123Config
    from dreamlift.guidance.zero123 import CLIP_MEAN, CLIP_STD, Zero123Guidance, load_zero123_model
    from dreamlift.learned.data import DataConfig, clip_pixels, load_renders, pair_poses

    model = load_zero123_model(Zero123Config(model=str(trained_view.out / "model")), "cpu")
    trained = trained_view.components
    _same_weights(model.unet, trained.unet)
    _same_weights(model.image_encoder, trained.image_encoder)
    assert model.unet.config.in_channels == 8 and model.image_size == 32 and model.clip_size == 16
    guidance = Zero123Guidance(model, Zero123Config(model="x", guidance_scale=3.0), TimestepSchedule(), "cpu")
    renders = load_renders(DataConfig(renders_per_object=2), 32)
    source, target = torch.tensor([6]), torch.tensor([7])  # two views of one object
    image = (renders.images[source].permute(0, 2, 3, 1) + 1.0) / 2.0
    guidance.set_reference(image, renders.cameras[source])
    with torch.no_grad():
        # what training fed the UNet for this pair: proj([CLIP(input), pose]) and the input's unscaled latent
        embedding = trained.image_encoder(pixel_values=clip_pixels(renders.images[source], 16, CLIP_MEAN, CLIP_STD)).image_embeds
        tokens = trained.projection(torch.cat([embedding, pair_poses(renders, source, target)], dim=-1))
        latent = trained.vae.encode(renders.images[source]).latent_dist.mean
        conditioning = guidance.conditioning(renders.cameras[target])
    assert torch.allclose(conditioning[:, 0], tokens, atol=1e-5)
    assert torch.allclose(guidance.reference_latent, latent, atol=1e-5)
    eps = guidance.predict_noise(torch.randn(1, 4, 8, 8), torch.tensor([500]), renders.cameras[target])
    assert eps.shape == (1, 4, 8, 8) and torch.isfinite(eps).all()
