"""Where and in what precision a run computes: one vocabulary for the trainer and every prior.

* Devices: ``"auto"`` (or None) → CUDA when the caller prefers a GPU and one is present, else
  the CPU; ``"cpu"``; ``"cuda"``; ``"cuda:N"`` (N below the number of GPUs).
* Dtypes: ``"auto"`` → bf16 on GPUs that have it, else fp16 on CUDA, fp32 on the CPU;
  ``"fp32"``, ``"fp16"`` (fp32 with a warning on the CPU), ``"bf16"``.

Any other word is a one-line :class:`~dreamlift.errors.DreamliftError` that lists the choices.
Also here: what a run does with a device (a CPU speed warning, freeing memory, a compiled
module that falls back to eager).
"""

from __future__ import annotations

import gc
import warnings
from typing import TYPE_CHECKING

from dreamlift.errors import DreamliftError

if TYPE_CHECKING:
    import torch

DEVICE_WORDS = ("auto", "cpu", "cuda", "cuda:N")
"""The device words of every config and of ``--device``."""
DTYPE_WORDS = ("auto", "fp32", "fp16", "bf16")
"""The precision words of every config (checked without importing torch: settings are checked before it loads)."""


def torch_dtype(name: str) -> torch.dtype:
    """The torch dtype of an explicit precision word (``fp32``, ``fp16``, ``bf16``)."""
    import torch

    word = check_dtype(name)
    if word == "auto":
        raise DreamliftError("dtype 'auto' depends on the device: use resolve_dtype")
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[word]


def resolve_device(name: str | torch.device | None, *, prefer_gpu: bool) -> torch.device:
    """The device ``name`` means here; ``"auto"``/None picks CUDA only with ``prefer_gpu`` (and a GPU present).

    A CUDA device this machine does not have is a one-line error, as is any other word.
    """
    import torch

    if name is None or (isinstance(name, str) and name.strip().lower() == "auto"):
        return torch.device("cuda" if prefer_gpu and torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name.strip().lower() if isinstance(name, str) else name)
    except (RuntimeError, TypeError, ValueError):
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise DreamliftError(f"unknown device {str(name)!r}: choose one of {', '.join(DEVICE_WORDS)}")
    if device.type == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise DreamliftError(f"device {str(name)!r} was asked for but PyTorch sees no GPU: use --device cpu (or install a CUDA build of torch)")
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise DreamliftError(f"device {str(name)!r} does not exist: this machine has {count} GPU(s), cuda:0 to cuda:{count - 1}")
    return device


def check_dtype(name: str) -> str:
    """``name`` as a precision word (case aside), or a one-line error listing the words."""
    word = str(name).strip().lower()
    if word not in DTYPE_WORDS:
        raise DreamliftError(f"dtype '{name}' is not one of {', '.join(DTYPE_WORDS)}")
    return word


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """The torch dtype of the precision word ``name`` on ``device`` (fp16 on the CPU falls back to fp32 with a warning)."""
    import torch

    word = check_dtype(name)
    if word == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if word == "fp16" and device.type == "cpu":
        warnings.warn("fp16 is slow and partly unsupported on the CPU: using fp32 (bf16 also works there)", RuntimeWarning, stacklevel=3)
        return torch.float32
    return torch_dtype(word)


def warn_if_cpu(device: torch.device, prior: str, per_step: str) -> None:
    """A speed warning (not an error) when a full-size prior runs without a GPU; ``per_step``: what one step costs there."""
    if device.type != "cuda":
        warnings.warn(
            f"{prior} guidance is running on the CPU: with a full-size model one step takes {per_step}, "
            f"so a run of thousands of steps takes days; use a CUDA GPU for real runs (or --prior toy)",
            RuntimeWarning,
            stacklevel=3,
        )


def free_memory(device: torch.device) -> None:
    """Return freed tensors' memory (after dropping a large module such as a text encoder)."""
    gc.collect()
    if device.type == "cuda":
        import torch

        torch.cuda.empty_cache()


class CompiledWithFallback:
    """A ``torch.compile``-d module that turns back into the eager one, with a warning, if a compiled call fails."""

    def __init__(self, module: torch.nn.Module, **compile_options):
        import torch

        self.eager = module
        self.compiled = torch.compile(module, **compile_options)
        self._out_of_memory = torch.cuda.OutOfMemoryError
        self.failed = False

    def __call__(self, *args, **kwargs):
        if not self.failed:
            try:
                return self.compiled(*args, **kwargs)
            except self._out_of_memory:
                raise
            except Exception as error:  # noqa: BLE001 - any compiler failure: run eagerly instead
                self.failed = True
                warnings.warn(
                    f"torch.compile of {type(self.eager).__name__} failed ({type(error).__name__}: {str(error)[:120]}); running it uncompiled",
                    RuntimeWarning,
                    stacklevel=2,
                )
        return self.eager(*args, **kwargs)
