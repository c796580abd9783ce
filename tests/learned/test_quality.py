"""dreamlift.learned.quality: the model-quality measure (silhouette IoU and colour error against held-out renders)."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from dreamlift.learned import quality


def _square(size: int, lo: int, hi: int, rgb=(0.86, 0.12, 0.12)) -> torch.Tensor:
    image = torch.ones(3, size, size)
    image[:, lo:hi, lo:hi] = torch.tensor(rgb).view(3, 1, 1)
    return image


def test_the_best_matching_truth_gives_the_iou_and_the_colour_error():
    sample = _square(16, 4, 12)  # 8x8 = 64 pixels
    shifted = _square(16, 6, 14)  # overlap 6x6 = 36, union 92
    same = _square(16, 4, 12, rgb=(0.76, 0.12, 0.12))  # the same silhouette, red 0.1 darker
    iou, colour = quality.match_scores(sample, torch.stack([shifted, same]))
    assert iou == 1.0 and abs(colour - 0.1 / 3) < 1e-6
    iou, colour = quality.match_scores(sample, shifted[None])
    assert abs(iou - 36 / 92) < 1e-6 and colour < 1e-6
    iou, colour = quality.match_scores(torch.ones(3, 16, 16), shifted[None])  # an empty sample
    assert iou == 0.0 and colour == 1.0


def test_a_held_out_render_scored_against_its_own_set_is_perfect():
    from dreamlift.toyworld import parse_caption

    images, cameras = quality.held_out_renders(parse_caption("a blue chair"), 8, 32)
    assert images.shape == (8, 3, 32, 32) and len(cameras) == 8
    assert 0.05 < float(quality.silhouette(images).float().mean()) < 0.6  # an object on white, not all or nothing
    iou, colour = quality.match_scores(images[3], images)
    assert iou == 1.0 and colour == 0.0


class _OracleGuidance:
    """A Zero-1-to-3 stand-in whose noise prediction is exact for data that is always ``x0``."""

    def __init__(self, x0: torch.Tensor):
        alphas = torch.cumprod(1.0 - torch.linspace(0.00085, 0.012, 1000), 0)
        vae = SimpleNamespace(config=SimpleNamespace(scaling_factor=1.0), decode=lambda z: SimpleNamespace(sample=z[:, :3]))
        self.model = SimpleNamespace(alphas_cumprod=alphas, image_size=4, vae_scale_factor=1, dtype=torch.float32, vae=vae)
        self.x0 = x0

    def predict_noise(self, x_t, timesteps, cameras):
        a = self.model.alphas_cumprod[timesteps].view(-1, 1, 1, 1)
        return (x_t - a.sqrt() * self.x0) / (1.0 - a).sqrt()


def test_the_view_sampler_reaches_the_data_of_an_exact_score():
    x0 = torch.rand(1, 4, 4, 4) * 2.0 - 1.0
    sample = quality.sample_view(_OracleGuidance(x0), [None], steps=20, generator=torch.Generator().manual_seed(0))
    assert sample.shape == (1, 3, 4, 4)
    assert torch.allclose(sample, ((x0[:, :3] + 1.0) / 2.0).clamp(0, 1), atol=1e-3)


def test_the_text_measure_samples_every_suffix_through_diffusers(trained_text):
    from dreamlift.toyworld import parse_caption

    scores = quality.text_model_scores(trained_text.out / "model", [parse_caption("a red cube")], samples=1, steps=2, truths=8)
    assert [s.prompt for s in scores] == ["a red cube, front view", "a red cube, side view", "a red cube, back view"]
    assert all(0.0 <= s.iou <= 1.0 and 0.0 <= s.colour <= 1.0 for s in scores)
    assert quality.summary(scores)["count"] == 3


def test_the_view_measure_samples_held_out_pairs(trained_view):
    from dreamlift.toyworld import parse_caption

    scores = quality.view_model_scores(trained_view.out / "model", [parse_caption("a red cube")], pairs=2, steps=2, truths=4)
    assert len(scores) == 2 and all(s.prompt.startswith("a red cube: view ") for s in scores)
    assert all(0.0 <= s.iou <= 1.0 and 0.0 <= s.colour <= 1.0 for s in scores)


def test_true_renders_scored_as_samples_are_perfect_only_against_their_own_set(monkeypatch):
    from dreamlift.toyworld import parse_caption

    chair = [parse_caption("a blue chair")]
    others = quality.true_render_scores(chair, samples=2, truths=32, resolution=32)
    assert [s.prompt for s in others][::2] == ["a blue chair, front view", "a blue chair, side view", "a blue chair, back view"]
    assert quality.summary(others)["iou"] < 0.98  # other cameras than the held-out set's: the measure's floor
    monkeypatch.setattr(quality, "REFERENCE_SEED", quality.HELD_OUT_SEED)  # the references are then in the set
    same = quality.true_render_scores(chair, samples=2, truths=32, resolution=32)
    assert all(s.iou == 1.0 and s.colour == 0.0 for s in same)
