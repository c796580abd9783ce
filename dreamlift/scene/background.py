"""Backgrounds composited behind the scene: a fixed colour, a random colour per image, or a
small network of the view direction (DreamFusion's learned environment)."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from dreamlift.scene.settings import BackgroundKind


class Background(nn.Module):
    """``forward(directions (B, H, W, 3), generator)`` → colours ``(B, H, W, 3)`` in [0, 1]."""

    def __init__(self, kind: BackgroundKind = BackgroundKind.FIXED, color: tuple[float, float, float] = (1.0, 1.0, 1.0), hidden: int = 16):
        super().__init__()
        self.kind = BackgroundKind(kind)
        self.register_buffer("color", torch.tensor(color, dtype=torch.float32), persistent=False)
        self.net = (
            nn.Sequential(nn.Linear(3 + 12, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 3))
            if self.kind is BackgroundKind.LEARNED
            else None
        )

    def forward(self, directions: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if self.kind is BackgroundKind.FIXED:
            return self.color.expand_as(directions)
        if self.kind is BackgroundKind.RANDOM:
            draw_device = generator.device if generator is not None else directions.device
            colors = torch.rand(directions.shape[0], 3, generator=generator, device=draw_device).to(directions.device)
            return colors[:, None, None, :].expand_as(directions)
        freqs = 2.0 ** torch.arange(2, device=directions.device, dtype=directions.dtype)
        scaled = (directions[..., None, :] * freqs[:, None]).flatten(-2)
        encoded = torch.cat((directions, torch.sin(scaled), torch.cos(scaled)), dim=-1)
        return torch.sigmoid(self.net(encoded))
