"""Image plus prompt: the image prior's SDS and a text prior's SDS on the same renders (Magic123).

Magic123 (Qian et al., arXiv 2306.17843) and stable-dreamfusion's ``--text --image``
judge every training render with a view-conditioned image prior (Zero-1-to-3) *and*
a text prior (Stable Diffusion), the text prior's loss weighted against the image
prior's (Magic123's ``λ_2D`` against ``λ_3D``); the text prior fixes what one image
cannot tell, such as an unseen back. Here, with ``dreamlift image photo.png --prompt
"..."``::

    loss = SDS_image(renders, cameras) + weight · SDS_text(renders, cameras turned by −front_azimuth)

Each prior draws its own timesteps from its own schedule (``prior.timesteps`` and
``image.text.prior.timesteps``) with its own ``w(t)`` and guidance scale. The text
prior's view-dependent prompts ("..., front view") and the toy text prior's memory
assume the object's front faces azimuth 0; in an image run the *input camera* is at
azimuth 0, so the text prior sees every camera turned by ``−front_azimuth``, the
object's front in the run's frame: 0 (the input shows the front) unless set, or,
for the toy view prior, the turn it recognised (a turned object's render from ``a``
is the unturned one's from ``a − turn``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from torch import Tensor

from dreamlift.errors import DreamliftError
from dreamlift.guidance.priors import TextGuidanceSettings, TextPriorConfig, default_text_prior  # noqa: F401 (the settings, re-exported)
from dreamlift.guidance.base import Guidance, GuidanceInputs, GuidanceOutput, MemorisedViews, TimestepSchedule
from dreamlift.rendering.cameras import OrbitCameras



class CombinedGuidance(Guidance):
    """The image prior's SDS plus ``weight`` times a text prior's (see the module docstring).

    It reports the image prior's timesteps and noise schedule (what the trainer logs) and
    keeps the last text loss in :attr:`last_text_loss`.
    """

    def __init__(self, image: Guidance, text: Guidance, weight: float, front_azimuth: float):
        self.image = image
        self.text = text
        self.weight = float(weight)
        self.front_azimuth = float(front_azimuth)
        self.alphas_cumprod = image.alphas_cumprod
        self.schedule = image.schedule
        self.weighting = image.weighting
        self.resolution = image.resolution
        self.last_text_loss: Tensor | None = None

    def encode(self, images: Tensor) -> Tensor:
        """The image prior's diffused variable."""
        return self.image.encode(images)

    def predict_noise(self, x_t: Tensor, timesteps: Tensor, cameras: OrbitCameras) -> Tensor:
        """The image prior's prediction (the text prior diffuses its own variable in :meth:`__call__`)."""
        return self.image.predict_noise(x_t, timesteps, cameras)

    def memorised_views(self) -> MemorisedViews | None:
        """The image prior's (the text prior only adds its judgement at those views)."""
        return self.image.memorised_views()

    def text_cameras(self, cameras: OrbitCameras) -> OrbitCameras:
        """``cameras`` as the text prior sees them: turned by ``−front_azimuth``."""
        return OrbitCameras(cameras.elevation, cameras.azimuth - self.front_azimuth, cameras.radius, cameras.fovy)

    def __call__(self, images: Tensor, cameras: OrbitCameras, progress: float = 0.0, generator=None) -> GuidanceOutput:
        judged = self.image(images, cameras, progress=progress, generator=generator)
        text = self.text(images, self.text_cameras(cameras), progress=progress, generator=generator)
        self.last_text_loss = text.loss.detach()
        return GuidanceOutput(
            loss=judged.loss + self.weight * text.loss, timesteps=judged.timesteps, grad_norm=judged.grad_norm, denoised=judged.denoised
        )


def with_text_prior(
    image: Guidance, settings: TextGuidanceSettings, inputs: GuidanceInputs, recognised_turn: float | None, text: Guidance | None = None
) -> Guidance:
    """``image`` alone without a prompt; with one, :class:`CombinedGuidance` with the text prior of ``settings``
    (set up from ``inputs``, or ``text`` when it is already loaded)."""
    if not inputs.prompt or not inputs.prompt.strip():
        return image
    settings.validate()
    text = text if text is not None else settings.prior.setup(inputs)
    front = settings.front_azimuth
    if front is None:
        front = recognised_turn if recognised_turn is not None else 0.0
    return CombinedGuidance(image, text, settings.weight, front)
