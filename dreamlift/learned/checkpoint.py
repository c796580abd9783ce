"""Resumable training state of a learned prior: one safetensors file and one JSON file.

``checkpoints/state-<phase>-<step>.safetensors`` holds every module's weights
(``<module>.<parameter>``), the optimiser's tensors (``optimizer.<index>.<name>``), any
extra tensors the loop keeps (``ema.<index>``: the moving average of the weights) and the
RNG states (``rng.generator``: the training generator, ``rng.torch``: torch's global one)
as uint8. ``checkpoints/latest.json`` names that file and holds the position (phase,
step), the optimiser's hyper-parameters and anything else the loop keeps (seconds so
far, the VAE's scaling factor). Both are written to a temporary name and renamed: the
weights first, then the JSON that points at them, then older weights are removed, so a
kill at any moment leaves a complete, consistent checkpoint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from dreamlift.errors import DreamliftError

LATEST = "latest.json"
FORMAT = 1


@dataclass
class Checkpoint:
    """A checkpoint as read back: ``position`` (the JSON) and ``tensors`` (the safetensors file)."""

    position: dict
    tensors: dict[str, Tensor]

    @property
    def phase(self) -> str:
        return self.position["phase"]

    @property
    def step(self) -> int:
        return int(self.position["step"])


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, Tensor], list[dict]]:
    state = optimizer.state_dict()
    tensors = {}
    for index, values in state["state"].items():
        for name, value in values.items():
            tensors[f"optimizer.{index}.{name}"] = torch.as_tensor(value).detach().cpu().contiguous()
    return tensors, state["param_groups"]


def _restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, Tensor], groups: list[dict]) -> None:
    state: dict[int, dict[str, Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def save_checkpoint(
    folder: Path,
    position: dict,
    modules: dict[str, nn.Module],
    optimizer: torch.optim.Optimizer | None,
    generator: torch.Generator,
    extra: dict[str, Tensor] | None = None,
) -> Path:
    """Write the training state at ``position`` (``phase``, ``step`` and any JSON extras) into ``folder``;
    ``extra`` tensors are stored under their own names (not a module's prefix)."""
    from safetensors.torch import save

    from dreamlift._atomic import write_bytes, write_json

    tensors: dict[str, Tensor] = {}
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            tensors[f"{name}.{key}"] = value.detach().cpu().contiguous()
    groups: list[dict] = []
    if optimizer is not None:
        optimizer_tensors, groups = _optimizer_tensors(optimizer)
        tensors.update(optimizer_tensors)
    tensors.update({key: value.detach().cpu().contiguous() for key, value in (extra or {}).items()})
    tensors["rng.generator"] = generator.get_state()
    tensors["rng.torch"] = torch.get_rng_state()
    weights = f"state-{position['phase']}-{int(position['step']):07d}.safetensors"
    write_bytes(folder / weights, save(tensors))
    write_json(folder / LATEST, {**position, "format": FORMAT, "weights": weights, "optimizer_groups": groups})
    for old in folder.glob("state-*.safetensors"):
        if old.name != weights:
            old.unlink(missing_ok=True)
    return folder / weights


def load_checkpoint(folder: Path) -> Checkpoint | None:
    """The latest checkpoint in ``folder``, or None when there is none; a damaged one is a one-line error."""
    from safetensors.torch import load_file

    path = folder / LATEST
    if not path.is_file():
        return None
    try:
        position = json.loads(path.read_text(encoding="utf-8"))
        tensors = load_file(str(folder / position["weights"]))
    except Exception as error:  # noqa: BLE001 (any unreadable checkpoint is the same problem for the user)
        raise DreamliftError(f"the checkpoint in {folder} cannot be read ({type(error).__name__}): start again in a new --out folder") from None
    if position.get("format") != FORMAT:
        raise DreamliftError(f"the checkpoint in {folder} has format {position.get('format')}, this version reads {FORMAT}: start again in a new --out folder")
    return Checkpoint(position, tensors)


def restore(checkpoint: Checkpoint, modules: dict[str, nn.Module], optimizer: torch.optim.Optimizer | None, generator: torch.Generator) -> None:
    """Put the checkpoint's weights, optimiser state and RNG states back (strict: every key must fit)."""
    for name, module in modules.items():
        prefix = f"{name}."
        state = {key[len(prefix):]: value for key, value in checkpoint.tensors.items() if key.startswith(prefix)}
        missing, unexpected = module.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise DreamliftError(
                f"the checkpoint's {name} does not fit the model ({len(missing)} missing, {len(unexpected)} unexpected weights): "
                "it was written by another version; start again in a new --out folder"
            )
    if optimizer is not None:
        _restore_optimizer(optimizer, checkpoint.tensors, checkpoint.position["optimizer_groups"])
    generator.set_state(checkpoint.tensors["rng.generator"])
    torch.set_rng_state(checkpoint.tensors["rng.torch"])
