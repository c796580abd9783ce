"""Checkpoints: tensors in safetensors, everything else in JSON, both written atomically.

``DIR/checkpoints/step-000400.safetensors`` holds the field, optimiser moments,
occupancy grid and random-generator state; ``step-000400.json`` holds the step, the
optimiser's scalar state, counters, and the SHA-256 and size of the tensor file. The
JSON is written last, so a checkpoint without a matching JSON (a crash between the
two) is ignored, and one whose tensor file does not match its checksum is skipped
in favour of the previous good one. The newest ``keep`` checkpoints are kept.

A record is trusted no more than the tensor file: one that is not a JSON object, whose
step is not that of its file name, or whose tensor file does not parse is skipped as
damaged too. Tensors are only ever read with safetensors (no pickle).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import Tensor

from dreamlift._atomic import write_bytes, write_json
from dreamlift.errors import DreamliftError


@dataclass
class Checkpoint:
    step: int
    tensors: dict[str, Tensor]
    meta: dict[str, Any]

    @property
    def name(self) -> str:
        """``step-000400``: the stem of its files."""
        return _name(self.step)


def _name(step: int) -> str:
    return f"step-{step:06d}"


def save_checkpoint(folder: Path, step: int, tensors: dict[str, Tensor], meta: dict[str, Any], keep: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = save_safetensors({k: v.detach().contiguous().cpu() for k, v in tensors.items()})
    tensor_path = folder / f"{_name(step)}.safetensors"
    write_bytes(tensor_path, data)
    record = dict(meta, step=step, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    try:
        write_json(folder / f"{_name(step)}.json", record)
    except BaseException:  # a tensor file without its record is no checkpoint: leave none behind
        tensor_path.unlink(missing_ok=True)
        raise
    for old in sorted(folder.glob("step-*.json"))[:-keep]:
        old.unlink(missing_ok=True)
        old.with_suffix(".safetensors").unlink(missing_ok=True)
    return tensor_path


def list_checkpoints(folder: Path) -> list[Path]:
    """JSON records, newest first."""
    return sorted(folder.glob("step-*.json"), reverse=True) if folder.is_dir() else []


def newest_step(folder: Path) -> int:
    """Step named by the newest checkpoint record in ``folder`` (0: none), without reading it."""
    records = list_checkpoints(Path(folder))
    try:
        return int(records[0].stem.removeprefix("step-")) if records else 0
    except ValueError:  # a stray file named like a checkpoint
        return 0


def load_latest_checkpoint(folder: Path) -> tuple[Checkpoint | None, list[str]]:
    """The newest checkpoint that verifies, and a note for each one that did not."""
    from dreamlift._limits import parse_json, read_text

    skipped: list[str] = []
    for record_path in list_checkpoints(folder):
        tensor_path = record_path.with_suffix(".safetensors")
        try:
            meta = parse_json(read_text(record_path, "record"), "record")  # within 1 MiB and 64 levels: never a RecursionError
        except (OSError, ValueError) as error:
            skipped.append(f"{record_path.name}: unreadable ({error.__class__.__name__})")
            continue
        except DreamliftError as error:  # past a limit: damaged like any other unreadable record
            skipped.append(f"{record_path.name}: {str(error).split(':')[0]}")
            continue
        problem = _record_problem(record_path, meta)
        if problem is not None:
            skipped.append(f"{record_path.name}: {problem}")
            continue
        try:
            if tensor_path.stat().st_size != meta["size"]:  # a torn or foreign file is not read whole to find out
                skipped.append(f"{record_path.name}: tensor file does not match its checksum")
                continue
            data = tensor_path.read_bytes()
        except OSError as error:
            skipped.append(f"{record_path.name}: unreadable ({error.__class__.__name__})")
            continue
        if len(data) != meta["size"] or hashlib.sha256(data).hexdigest() != meta["sha256"]:
            skipped.append(f"{record_path.name}: tensor file does not match its checksum")
            continue
        try:
            loaded = load_safetensors(data)
        except Exception as error:  # noqa: BLE001 - SafetensorError and friends: a damaged file, not a bug
            skipped.append(f"{record_path.name}: tensor file does not parse ({error.__class__.__name__})")
            continue
        # clone: fresh, aligned allocations, so vectorised kernels (and results) match an uninterrupted run
        tensors = {key: value.clone() for key, value in loaded.items()}
        return Checkpoint(step=meta["step"], tensors=tensors, meta=meta), skipped
    return None, skipped


def fallback_note(checkpoint: Checkpoint | None, skipped: list[str]) -> str | None:
    """When :func:`load_latest_checkpoint` fell back past damaged checkpoints: one line naming the newest one, why it
    was skipped, and the step it fell back to (None when the newest checkpoint was good)."""
    if checkpoint is None or not skipped:
        return None
    name, _, reason = skipped[0].partition(": ")
    newest = name.removesuffix(".json")
    step = newest.removeprefix("step-").lstrip("0") or "0"
    return f"the newest checkpoint, {newest} (step {step}), is damaged ({reason}); fell back to {checkpoint.name} (step {checkpoint.step})"


def _record_problem(record_path: Path, meta: Any) -> str | None:
    """Why a checkpoint record cannot be trusted, or None."""
    if not isinstance(meta, dict):
        return "record is not a JSON object"
    step, size, digest = meta.get("step"), meta.get("size"), meta.get("sha256")
    if not isinstance(step, int) or isinstance(step, bool) or record_path.stem != _name(step):
        return f"record names step {step!r}, not that of its file name"
    if not isinstance(size, int) or not isinstance(digest, str):
        return "record has no size and checksum"
    return None


def prefixed(tensors: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The tensors named ``prefix.<name>``, keyed by ``<name>`` (one module's state in a checkpoint)."""
    head = prefix + "."
    return {key[len(head) :]: value for key, value in tensors.items() if key.startswith(head)}


def optimizer_to_tensors(optimizer: torch.optim.Optimizer, prefix: str = "optimizer") -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Split an optimiser's state into tensors (per parameter) and JSON-ready param groups."""
    state = optimizer.state_dict()
    tensors = {}
    for index, values in state["state"].items():
        for name, value in values.items():
            tensors[f"{prefix}.{index}.{name}"] = torch.as_tensor(value)
    return tensors, {"param_groups": state["param_groups"]}


def optimizer_from_tensors(optimizer: torch.optim.Optimizer, tensors: dict[str, Tensor], meta: dict[str, Any], prefix: str = "optimizer") -> None:
    state: dict[int, dict[str, Tensor]] = {}
    for key, value in tensors.items():
        if not key.startswith(prefix + "."):
            continue
        _, index, name = key.split(".", 2)
        state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
