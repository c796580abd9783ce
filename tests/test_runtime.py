"""The one device and dtype vocabulary (dreamlift.runtime): each word → its device/dtype, anything else a one-line error."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import pytest
import torch

from dreamlift import runtime
from dreamlift.guidance.deepfloyd_if import DeepFloydIFConfig
from dreamlift.guidance.stable_diffusion import StableDiffusionConfig
from dreamlift.guidance.zero123 import Zero123Config
from dreamlift.distillation.sampling import resolve_device as trainer_resolve_device
from _helpers import error_message

CUDA = torch.device("cuda")
CPU = torch.device("cpu")


@pytest.fixture
def two_gpus(monkeypatch):
    """Pretend this machine has two CUDA GPUs (resolve_device only asks torch.cuda, it allocates nothing)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


# --------------------------------------------------------------------------- devices


@pytest.mark.parametrize("name", [None, "auto", "AUTO", " auto "])
def test_auto_is_the_gpu_only_when_preferred_and_present(name, two_gpus):
    assert runtime.resolve_device(name, prefer_gpu=True) == CUDA
    assert runtime.resolve_device(name, prefer_gpu=False) == CPU


@pytest.mark.parametrize("name", [None, "auto"])
def test_auto_without_a_gpu_is_the_cpu(name, no_gpu):
    assert runtime.resolve_device(name, prefer_gpu=True) == CPU


def test_each_device_word(two_gpus):
    assert runtime.resolve_device("cpu", prefer_gpu=True) == CPU
    assert runtime.resolve_device("CPU", prefer_gpu=True) == CPU
    assert runtime.resolve_device(torch.device("cpu"), prefer_gpu=True) == CPU
    assert runtime.resolve_device("cuda", prefer_gpu=False) == CUDA
    assert runtime.resolve_device("cuda:0", prefer_gpu=False) == torch.device("cuda", 0)
    assert runtime.resolve_device("cuda:1", prefer_gpu=False) == torch.device("cuda", 1)
    assert runtime.resolve_device(torch.device("cuda", 1), prefer_gpu=False) == torch.device("cuda", 1)


def test_a_gpu_index_beyond_the_count_is_an_error(two_gpus):
    error_message(lambda: runtime.resolve_device("cuda:2", prefer_gpu=True), "'cuda:2' does not exist", "2 GPU(s)", "cuda:0 to cuda:1")
    error_message(lambda: runtime.resolve_device("cuda:5", prefer_gpu=True), "'cuda:5' does not exist")


@pytest.mark.parametrize("name", ["cuda", "cuda:0", "cuda:5"])
def test_cuda_without_a_gpu_is_an_error(name, no_gpu):
    error_message(lambda: runtime.resolve_device(name, prefer_gpu=False), f"'{name}' was asked for but PyTorch sees no GPU", "--device cpu")


@pytest.mark.parametrize("name", ["nonsense", "gpu", "mps", "meta", "", "cuda:x", "float32"])
def test_other_device_words_are_refused_with_the_choices(name):
    error_message(lambda: runtime.resolve_device(name, prefer_gpu=True), f"unknown device '{name}'", "choose one of auto, cpu, cuda, cuda:N")


def test_the_trainer_uses_the_same_words_and_keeps_the_toy_prior_on_the_cpu(two_gpus):
    from dreamlift.guidance.stable_diffusion import StableDiffusionConfig
    from dreamlift.guidance.toy import ToyPriorConfig
    from dreamlift.guidance.zero123 import Zero123Config

    toy = ToyPriorConfig()
    assert trainer_resolve_device(SimpleNamespace(device="auto", prior=toy)) == CPU
    assert trainer_resolve_device(SimpleNamespace(device="auto", prior=StableDiffusionConfig())) == CUDA
    assert trainer_resolve_device(SimpleNamespace(device="auto", prior=Zero123Config())) == CUDA
    assert trainer_resolve_device(SimpleNamespace(device="cuda:1", prior=toy)) == torch.device("cuda", 1)
    error_message(lambda: trainer_resolve_device(SimpleNamespace(device="gpu", prior=toy)), "choose one of auto, cpu, cuda, cuda:N")


# --------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize(
    ("name", "device", "expected"),
    [
        ("fp32", CPU, torch.float32),
        ("fp32", CUDA, torch.float32),
        ("bf16", CPU, torch.bfloat16),
        ("bf16", CUDA, torch.bfloat16),
        ("fp16", CUDA, torch.float16),
        ("FP16", CUDA, torch.float16),
        ("auto", CPU, torch.float32),
    ],
)
def test_each_dtype_word(name, device, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # none of these warns
        assert runtime.resolve_dtype(name, device) == expected


@pytest.mark.parametrize(("bf16_supported", "expected"), [(True, torch.bfloat16), (False, torch.float16)])
def test_auto_on_a_gpu_is_bf16_where_it_is_supported_else_fp16(monkeypatch, bf16_supported, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: bf16_supported)
    assert runtime.resolve_dtype("auto", CUDA) == expected


def test_fp16_on_the_cpu_is_fp32_with_a_warning():
    with pytest.warns(RuntimeWarning, match="fp16 is slow and partly unsupported on the CPU: using fp32"):
        assert runtime.resolve_dtype("fp16", CPU) == torch.float32


@pytest.mark.parametrize("name", ["float32", "float16", "bfloat16", "fp8", "half", "", "auto16"])
def test_other_dtype_words_are_refused_with_the_choices(name):
    error_message(lambda: runtime.resolve_dtype(name, CPU), f"dtype '{name}' is not one of auto, fp32, fp16, bf16")


def test_every_prior_config_speaks_the_same_dtype_words():
    for config in (StableDiffusionConfig(), DeepFloydIFConfig(), Zero123Config()):
        assert config.dtype == "auto" and config.dtype in runtime.DTYPE_WORDS
    error_message(StableDiffusionConfig(dtype="float16").validate, "dtype 'float16' is not one of auto, fp32, fp16, bf16")
