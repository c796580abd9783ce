"""3D Gaussians as a scene (DreamGaussian): parameters, adaptive density control, checkpoints.

:class:`GaussianModel` holds ``N`` Gaussians as raw parameters, each a row:
``means (N, 3)`` world units; ``log_scales (N, 3)`` (scales ``exp``); ``quaternions (N, 4)``
``(w, x, y, z)`` (normalised where used); ``opacity_logits (N,)`` (opacity ``sigmoid``);
``colour_logits (N, 3)`` (albedo ``sigmoid``). :meth:`GaussianModel.splats` gives the
rasteriser's :class:`~dreamlift.rendering.splatting.Splats`.

Densification and pruning change ``N``. Each change builds new parameters from kept rows and
added rows and hands them to the optimiser in place of the old ones, with every per-row state
tensor (Adam's ``exp_avg``, ``exp_avg_sq``) following its row: copied for kept rows, zeros for
added ones. A checkpoint's ``state_dict`` holds the parameters at their current ``N``;
``load_state_dict`` resizes the model to it (build a new optimiser over the new parameters, or
load its state too). :mod:`~dreamlift.scene.gaussian_field` gives the :class:`~dreamlift.scene.field.Field`
view that export reads.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from dreamlift.scene.splats import Splats, quaternion_to_matrix
from dreamlift.scene.gaussian_settings import DensifyConfig, GaussianConfig

PARAMETERS = ("means", "log_scales", "quaternions", "opacity_logits", "colour_logits")
"""The parameter names, in the order of :meth:`GaussianModel.parameter_groups`."""
LEARNING_RATES = {"means": 1e-3, "log_scales": 5e-3, "quaternions": 5e-3, "opacity_logits": 5e-2, "colour_logits": 1e-2}
"""DreamGaussian's learning rates (``position_lr_init``, ``scaling_lr``, ``rotation_lr``, ``opacity_lr``, ``feature_lr``)."""


def _logit(p: Tensor) -> Tensor:
    return torch.log(p) - torch.log1p(-p)


def neighbour_scales(points: Tensor, neighbours: int = 3) -> Tensor:
    """``(N,)`` RMS distance from each point to its ``neighbours`` nearest others (3DGS's starting scale)."""
    from scipy.spatial import cKDTree

    array = points.detach().cpu().double().numpy()
    k = min(neighbours, len(array) - 1)
    if k < 1:
        return torch.full((len(array),), 0.01, dtype=points.dtype, device=points.device)
    distances, _ = cKDTree(array).query(array, k=k + 1)
    rms = torch.from_numpy(distances[:, 1:]).pow(2).mean(1).sqrt().clamp_min(1e-7)
    return rms.to(device=points.device, dtype=points.dtype)


class GaussianModel(nn.Module):
    """``N`` 3D Gaussians (see the module docstring for the parameters and their activations)."""

    def __init__(self, config: GaussianConfig | None = None, generator: torch.Generator | None = None):
        super().__init__()
        config = config or GaussianConfig()
        config.validate()
        count = config.count
        direction = torch.randn(count, 3, generator=generator)
        direction = direction / direction.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        means = direction * config.radius * torch.rand(count, 1, generator=generator) ** (1.0 / 3.0)
        scale = neighbour_scales(means) if config.scale is None else torch.full((count,), float(config.scale))
        colours = torch.rand(count, 3, generator=generator) if config.colour == "random" else torch.full((count, 3), 0.5)
        self.means = nn.Parameter(means)
        self.log_scales = nn.Parameter(torch.log(scale)[:, None].repeat(1, 3))
        self.quaternions = nn.Parameter(torch.tensor([1.0, 0.0, 0.0, 0.0]).repeat(count, 1))
        self.opacity_logits = nn.Parameter(torch.full((count,), math.log(config.opacity / (1.0 - config.opacity))))
        self.colour_logits = nn.Parameter(_logit(colours.clamp(1e-3, 1.0 - 1e-3)))
        self.register_buffer("grad_sum", torch.zeros(count), persistent=False)
        self.register_buffer("grad_count", torch.zeros(count), persistent=False)

    @classmethod
    def from_splats(cls, splats: Splats) -> "GaussianModel":
        """A model holding ``splats`` (e.g. read from a ``splats.ply``); colours are clamped into (0.001, 0.999) for their logits."""
        model = cls(GaussianConfig(count=1, scale=1.0))
        with torch.no_grad():
            model.load_state_dict(
                {
                    "means": splats.means.detach(),
                    "log_scales": splats.log_scales.detach(),
                    "quaternions": splats.quaternions.detach(),
                    "opacity_logits": splats.opacity_logits.detach(),
                    "colour_logits": _logit(splats.colours.detach().clamp(1e-3, 1.0 - 1e-3)),
                }
            )
        return model

    # ------------------------------------------------------------------ views
    def __len__(self) -> int:
        return int(self.means.shape[0])

    @property
    def scales(self) -> Tensor:
        return torch.exp(self.log_scales)

    @property
    def opacities(self) -> Tensor:
        return torch.sigmoid(self.opacity_logits)

    @property
    def colours(self) -> Tensor:
        return torch.sigmoid(self.colour_logits)

    def splats(self) -> Splats:
        """The rasteriser's input (differentiable in every parameter)."""
        return Splats(self.means, self.log_scales, self.quaternions, self.opacity_logits, self.colours)

    def as_field(self, **settings):
        """The :class:`~dreamlift.scene.gaussian_field.GaussianField` view of these Gaussians (what export reads);
        ``settings`` are its keyword arguments (e.g. ``drawn_size``)."""
        from dreamlift.scene.gaussian_field import GaussianField

        return GaussianField(self, **settings)

    def parameter_groups(self, learning_rates: dict[str, float] | None = None) -> list[dict]:
        """One optimiser group per parameter, named, with DreamGaussian's rates unless given."""
        rates = {**LEARNING_RATES, **(learning_rates or {})}
        return [{"params": [getattr(self, name)], "name": name, "lr": rates[name]} for name in PARAMETERS]

    # ------------------------------------------------------------------ densification
    def add_densification_stats(self, means2d_grad: Tensor, visible: Tensor, size: int) -> None:
        """Accumulate each visible Gaussian's 2D-mean gradient norm, from ``means2d.grad (B, N, 2)`` (pixels) and
        ``visible (B, N)`` of a render at ``size`` pixels.

        The norm is taken in NDC units (pixel gradient × ``size / 2``, as 3DGS measures it) and times ``B``:
        the loss is taken to be a mean over the batch's views, so each view counts as a batch of one.
        """
        grad = means2d_grad.detach() * (0.5 * size * means2d_grad.shape[0])
        norms = torch.where(visible, grad.norm(dim=-1), 0.0)
        self.grad_sum += norms.sum(0)
        self.grad_count += visible.sum(0).to(self.grad_count.dtype)

    def densify_and_prune(
        self, optimizer: torch.optim.Optimizer | None, config: DensifyConfig | None = None, generator: torch.Generator | None = None
    ) -> dict[str, int]:
        """Clone, split, then prune (3DGS §5); reset the gradient statistics. Returns the counts of each."""
        config = config or DensifyConfig()
        counts = self.densify(optimizer, config, generator)
        counts["pruned"] = self.prune(optimizer, self.prune_mask(config))
        self.grad_sum.zero_()
        self.grad_count.zero_()
        return counts

    def densify(self, optimizer: torch.optim.Optimizer | None, config: DensifyConfig, generator: torch.Generator | None = None) -> dict[str, int]:
        """Gaussians whose mean 2D gradient reaches ``grad_threshold``: small ones (largest scale ≤ ``percent_dense·extent``)
        are cloned (a copy with the same parameters), large ones are split into ``split_into`` Gaussians with means drawn
        from the original and scales divided by ``0.8·split_into``; the split originals are removed."""
        with torch.no_grad():
            mean_grad = self.grad_sum / self.grad_count.clamp_min(1.0)
            selected = mean_grad >= config.grad_threshold
            large = self.scales.amax(dim=-1) > config.percent_dense * config.extent
            clone, split = selected & ~large, selected & large
            parts = config.split_into
            added = {name: getattr(self, name).detach()[clone] for name in PARAMETERS}
            rows = split.nonzero().squeeze(1).repeat(parts)
            noise = torch.randn(len(rows), 3, generator=generator).to(self.means)
            offsets = (quaternion_to_matrix(self.quaternions[rows]) @ (noise * self.scales[rows])[..., None]).squeeze(-1)
            sampled = {name: getattr(self, name).detach()[rows] for name in PARAMETERS}
            sampled["means"] = self.means[rows] + offsets
            sampled["log_scales"] = self.log_scales[rows] - math.log(0.8 * parts)
            added = {name: torch.cat((added[name], sampled[name])) for name in PARAMETERS}
            self._rebuild(optimizer, (~split).nonzero().squeeze(1), added)
        return {"cloned": int(clone.sum()), "split": int(split.sum())}

    def prune_mask(self, config: DensifyConfig) -> Tensor:
        """``(N,)`` bool: opacity below ``min_opacity`` or largest scale above ``max_size · extent``."""
        with torch.no_grad():
            return (self.opacities < config.min_opacity) | (self.scales.amax(dim=-1) > config.max_size * config.extent)

    def prune(self, optimizer: torch.optim.Optimizer | None, mask: Tensor) -> int:
        """Remove the Gaussians where ``mask (N,)`` is True; returns how many."""
        with torch.no_grad():
            self._rebuild(optimizer, (~mask).nonzero().squeeze(1), {})
        return int(mask.sum())

    def reset_opacity(self, optimizer: torch.optim.Optimizer | None, value: float = 0.01) -> None:
        """Clamp every opacity to at most ``value`` and zero its optimiser state (3DGS's opacity reset)."""
        with torch.no_grad():
            logits = torch.minimum(self.opacity_logits, torch.full_like(self.opacity_logits, math.log(value / (1.0 - value))))
            self._swap("opacity_logits", logits, optimizer, lambda state: torch.zeros_like(state))

    def _rebuild(self, optimizer: torch.optim.Optimizer | None, keep: Tensor, added: dict[str, Tensor]) -> None:
        """Every parameter becomes its rows ``keep`` followed by ``added[name]`` (none when absent); per-row
        optimiser state follows (zeros for added rows), and so do the gradient statistics."""
        count = len(added["means"]) if added else 0

        def rows(tensor: Tensor, new: Tensor | None = None) -> Tensor:
            tail = tensor.new_zeros((count,) + tensor.shape[1:]) if new is None else new.to(tensor)
            return torch.cat((tensor[keep], tail))

        for name in PARAMETERS:
            self._swap(name, rows(getattr(self, name).detach(), added.get(name)), optimizer, rows)
        self.grad_sum = rows(self.grad_sum)
        self.grad_count = rows(self.grad_count)

    def _swap(self, name: str, data: Tensor, optimizer: torch.optim.Optimizer | None, remap) -> None:
        """Replace parameter ``name`` by a new one holding ``data``, in the model and in ``optimizer``, whose per-row
        state tensors become ``remap(state)`` (scalars such as Adam's ``step`` are kept)."""
        old = getattr(self, name)
        new = nn.Parameter(data.contiguous(), requires_grad=old.requires_grad)
        if optimizer is not None:
            for group in optimizer.param_groups:
                group["params"] = [new if p is old else p for p in group["params"]]
            state = optimizer.state.pop(old, None)
            if state is not None:
                optimizer.state[new] = {
                    key: remap(value) if torch.is_tensor(value) and value.dim() > 0 and value.shape[0] == old.shape[0] else value
                    for key, value in state.items()
                }
        setattr(self, name, new)

    # ------------------------------------------------------------------ checkpoints
    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):
        """Resize the parameters (and zero the statistics) to the checkpoint's ``N`` before loading it."""
        key = prefix + "means"
        if key in state_dict and state_dict[key].shape[0] != len(self):
            count = int(state_dict[key].shape[0])
            for name in PARAMETERS:
                old = getattr(self, name)
                setattr(self, name, nn.Parameter(old.new_empty((count,) + old.shape[1:]), requires_grad=old.requires_grad))
            self.grad_sum = self.grad_sum.new_zeros(count)
            self.grad_count = self.grad_count.new_zeros(count)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)
