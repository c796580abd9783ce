"""One SDS step with full-size Stable Diffusion 2.1-base and DeepFloyd IF-I-XL architectures, random weights.

Nothing is downloaded: the UNets and the VAE are built from their published configs
(the SD-2.1-base UNet has 866 M parameters, IF-I-XL 4.30 B) with random weights, and
the text embeddings are random tensors of the right shape (77×1024 CLIP, 77×4096 T5),
which costs the same per step as real ones. The render is a small stand-in for the
NeRF (an MLP over Fourier features of the pixel grid, 64×64 by default, as the
presets' render size), so its gradient path is real.

Each step runs the project's own guidance objects (``StableDiffusionGuidance``,
``DeepFloydIFGuidance``) exactly as training does: render → ``guidance(images, cameras)``
(encode, timestep, noise, CFG UNet call, SDS loss) → ``loss.backward()``. CUDA events
split the step into render / encode (VAE for SD, resize for IF) / UNet (``predict_noise``,
both CFG branches in one batch) / backward. Printed: median ms per phase and per step,
peak GPU memory, over fp32 (TF32 matmuls), bf16, fp16, eager and with ``torch.compile``
(the default on CUDA: the UNet in mode ``reduce-overhead``, i.e. CUDA graphs, and SD's VAE encoder).

    python bench/guidance_gpu.py               # the full table (needs a CUDA GPU, diffusers)
    python bench/guidance_gpu.py --tiny        # the same code on tiny configs, CPU or GPU (a smoke test)
    python bench/guidance_gpu.py --only sd     # Stable Diffusion variants only

``--job``: instead of single steps, a whole ``dreamlift text --prompt ... --prior FOLDER`` job in a
child process, FOLDER a StableDiffusionPipeline folder with random SD-2.1-base weights (``--tiny``:
the tests' tiny SD), so loading, the prompt encoding, training at the preset's render-size milestones,
checkpoints, mesh and turntable export all run as a user's job does. Printed: the wall time, the
training time and the median step time of each render size (from the run's log.jsonl), and the peak
memory (``torch.cuda.max_memory_allocated`` on CUDA; the peak resident memory of the process on the
CPU). ``--job-tiny-vae`` adds a random TAESD-shaped ``AutoencoderTiny`` as ``prior.tiny_vae``.
``--encodings``: one training render (forward and backward) per ``nerf.encoding`` the field offers
(the hash grid when present), at the presets' sizes.

    python bench/guidance_gpu.py --job                   # default steps (the sd-dreamfusion preset's 10,000)
    python bench/guidance_gpu.py --job --job-steps 600 --set size_milestones=[[200,128,1],[300,256,1]]
    python bench/guidance_gpu.py --job --tiny --job-steps 3 --job-export off   # the CPU smoke test
    python bench/guidance_gpu.py --encodings --tiny      # the encodings, CPU
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dreamlift.guidance._diffusers_guidance import PromptEmbeddings  # noqa: E402
from dreamlift.guidance.base import TimestepSchedule  # noqa: E402
from dreamlift.guidance.deepfloyd_if import DeepFloydIFConfig, DeepFloydIFGuidance  # noqa: E402
from dreamlift.guidance.stable_diffusion import StableDiffusionConfig, StableDiffusionGuidance, vae_dtype_for  # noqa: E402
from dreamlift.rendering.cameras import OrbitCameras  # noqa: E402
from dreamlift.runtime import torch_dtype  # noqa: E402

# stabilityai/stable-diffusion-2-1-base unet/config.json (866 M parameters)
SD21_BASE_UNET = dict(
    sample_size=64,
    in_channels=4,
    out_channels=4,
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    block_out_channels=(320, 640, 1280, 1280),
    layers_per_block=2,
    cross_attention_dim=1024,
    attention_head_dim=(5, 10, 20, 20),
    use_linear_projection=True,
    act_fn="silu",
    norm_num_groups=32,
)
# the SD VAE (vae/config.json of SD 1.x/2.x, 84 M parameters)
SD_VAE = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    block_out_channels=(128, 256, 512, 512),
    layers_per_block=2,
    latent_channels=4,
    norm_num_groups=32,
    scaling_factor=0.18215,
)
# DeepFloyd/IF-I-XL-v1.0 unet/config.json (4.30 B parameters)
IF_I_XL_UNET = dict(
    sample_size=64,
    in_channels=3,
    out_channels=6,
    layers_per_block=3,
    block_out_channels=(704, 1408, 2112, 2816),
    down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D", "SimpleCrossAttnDownBlock2D", "SimpleCrossAttnDownBlock2D"),
    up_block_types=("SimpleCrossAttnUpBlock2D", "SimpleCrossAttnUpBlock2D", "SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
    mid_block_type="UNetMidBlock2DSimpleCrossAttn",
    cross_attention_dim=2816,
    encoder_hid_dim=4096,
    encoder_hid_dim_type="text_proj",
    attention_head_dim=64,
    addition_embed_type="text",
    addition_embed_type_num_heads=64,
    cross_attention_norm="group_norm",
    resnet_time_scale_shift="scale_shift",
    act_fn="gelu",
)
TOKENS = 77

# madebyollin/taesd config.json (TAESD for SD 1.x/2.x, 2.4 M parameters): AutoencoderTiny's defaults
TAESD = dict(
    encoder_block_out_channels=(64, 64, 64, 64),
    decoder_block_out_channels=(64, 64, 64, 64),
    num_encoder_blocks=(1, 3, 3, 3),
    num_decoder_blocks=(3, 3, 3, 1),
    latent_channels=4,
    scaling_factor=1.0,
)
# the SD-2.1-base text encoder (OpenCLIP ViT-H/14's text tower, text_encoder/config.json, 340 M parameters)
SD21_TEXT_ENCODER = dict(
    vocab_size=49408,
    hidden_size=1024,
    intermediate_size=4096,
    num_hidden_layers=23,
    num_attention_heads=16,
    max_position_embeddings=TOKENS,
    hidden_act="gelu",
    projection_dim=512,
    bos_token_id=512,  # the stand-in tokenizer's (a byte-level vocabulary without merges)
    eos_token_id=513,
    pad_token_id=513,
)

TINY_SD_UNET = dict(SD21_BASE_UNET, sample_size=8, block_out_channels=(32, 32, 64, 64), cross_attention_dim=32, attention_head_dim=(2, 2, 4, 4))
TINY_SD_VAE = dict(SD_VAE, block_out_channels=(32, 32, 32, 32))
TINY_TAESD = dict(TAESD, encoder_block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8))
TINY_IF_UNET = dict(IF_I_XL_UNET, sample_size=16, block_out_channels=(32, 64, 64, 64), cross_attention_dim=32, encoder_hid_dim=64, attention_head_dim=8, addition_embed_type_num_heads=2)


class StandInRender(torch.nn.Module):
    """A learnable stand-in for the NeRF render: an MLP over Fourier features of the pixel grid → (B, S, S, 3)."""

    def __init__(self, size: int, frequencies: int = 8, width: int = 64):
        super().__init__()
        axis = (torch.arange(size) + 0.5) / size * 2 - 1
        grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), dim=-1).reshape(-1, 2)
        scales = 2.0 ** torch.arange(frequencies) * math.pi
        angles = grid[:, :, None] * scales
        self.register_buffer("features", torch.cat((angles.sin(), angles.cos()), dim=-1).flatten(1))
        self.size = size
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(4 * frequencies, width), torch.nn.ReLU(), torch.nn.Linear(width, width), torch.nn.ReLU(), torch.nn.Linear(width, 3)
        )

    def forward(self, batch: int) -> torch.Tensor:
        rgb = torch.sigmoid(self.mlp(self.features)).reshape(1, self.size, self.size, 3)
        return rgb.expand(batch, -1, -1, -1)


def random_embeddings(dim: int, dtype: torch.dtype, device: torch.device) -> PromptEmbeddings:
    generator = torch.Generator(device="cpu").manual_seed(0)
    sample = lambda *shape: torch.randn(*shape, generator=generator).to(device, dtype)  # noqa: E731
    return PromptEmbeddings(uncond=sample(TOKENS, dim), plain=sample(TOKENS, dim), views=sample(4, TOKENS, dim))


def build_guidance(prior: str, dtype_name: str, device: torch.device, tiny: bool, **options):
    """A guidance object of the project with random full-size (or tiny) weights built on ``device``."""
    from diffusers import AutoencoderKL, AutoencoderTiny, DDPMScheduler, UNet2DConditionModel

    dtype = torch_dtype(dtype_name)
    torch.manual_seed(0)
    if prior == "sd":
        spec = TINY_SD_UNET if tiny else SD21_BASE_UNET
        config = StableDiffusionConfig(model="random", dtype=dtype_name, **options)
        vae_dtype = vae_dtype_for(config, dtype)
        with torch.device(device):
            unet = UNet2DConditionModel(**spec).to(dtype)
            if config.tiny_vae:
                vae = AutoencoderTiny(**(TINY_TAESD if tiny else TAESD)).to(vae_dtype)
            else:
                vae = AutoencoderKL(**(TINY_SD_VAE if tiny else SD_VAE)).to(vae_dtype)
        scheduler = DDPMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
        guidance_class, text_dim, extra = StableDiffusionGuidance, spec["cross_attention_dim"], dict(vae=vae, vae_dtype=vae_dtype)
    else:
        spec = TINY_IF_UNET if tiny else IF_I_XL_UNET
        config = DeepFloydIFConfig(model="random", dtype=dtype_name, **options)
        with torch.device(device):
            unet = UNet2DConditionModel(**spec).to(dtype)
        scheduler = DDPMScheduler(beta_schedule="squaredcos_cap_v2", variance_type="learned_range")
        guidance_class, text_dim, extra = DeepFloydIFGuidance, spec["encoder_hid_dim"], {}
    return guidance_class(
        unet=unet,
        scheduler=scheduler,
        embeddings=random_embeddings(text_dim, dtype, device),
        config=config,
        schedule=TimestepSchedule(),
        device=device,
        dtype=dtype,
        **extra,
    )


class PhaseTimer:
    """Wraps ``encode`` and ``predict_noise`` of a guidance object to time them with CUDA events (wall clock on CPU)."""

    def __init__(self, guidance, cuda: bool):
        self.cuda = cuda
        self.marks: dict[str, object] = {}
        for name in ("encode", "predict_noise"):
            original = getattr(guidance, name)
            setattr(guidance, name, self._wrap(name, original))

    def mark(self, name: str) -> None:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self.marks[name] = event
        else:
            self.marks[name] = time.perf_counter()

    def _wrap(self, name, function):
        def timed(*args, **kwargs):
            self.mark(f"{name}:start")
            result = function(*args, **kwargs)
            self.mark(f"{name}:end")
            return result

        return timed

    def elapsed(self, start: str, end: str) -> float:
        a, b = self.marks[start], self.marks[end]
        return a.elapsed_time(b) if self.cuda else (b - a) * 1000.0


def run_variant(name: str, prior: str, dtype: str, device: torch.device, args, **options) -> dict:
    cuda = device.type == "cuda"
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    built = time.perf_counter()
    guidance = build_guidance(prior, dtype, device, args.tiny, **options)
    render = StandInRender(args.render_size).to(device)
    build_seconds = time.perf_counter() - built
    timer = PhaseTimer(guidance, cuda)
    cameras = OrbitCameras.make([15.0] * args.batch, [30.0 + 40.0 * i for i in range(args.batch)])

    def step() -> None:
        timer.mark("step:start")
        images = render(args.batch)
        out = guidance(images, cameras, progress=0.5)
        timer.mark("backward:start")
        out.loss.backward()
        timer.mark("step:end")

    first = time.perf_counter()
    step()
    if cuda:
        torch.cuda.synchronize()
    first_seconds = time.perf_counter() - first
    for _ in range(args.warmup - 1):
        step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    phases = {"render": [], "encode": [], "unet": [], "backward": [], "step": []}
    for _ in range(args.steps):
        step()
        if cuda:
            torch.cuda.synchronize()
        phases["render"].append(timer.elapsed("step:start", "encode:start"))
        phases["encode"].append(timer.elapsed("encode:start", "encode:end"))
        phases["unet"].append(timer.elapsed("predict_noise:start", "predict_noise:end"))
        phases["backward"].append(timer.elapsed("backward:start", "step:end"))
        phases["step"].append(timer.elapsed("step:start", "step:end"))
    row = {"variant": name, "prior": prior, "dtype": dtype, **{k: round(statistics.median(v), 2) for k, v in phases.items()}}
    row["peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None
    row["build_s"] = round(build_seconds, 1)
    row["first_step_s"] = round(first_seconds, 1)
    row["params_m"] = round(sum(p.numel() for p in guidance.unet.parameters()) / 1e6, 1)
    del guidance, render, timer
    return row


VARIANTS = [
    # name, prior, dtype, options; unnamed options are the config defaults (NCHW, cuDNN benchmark on,
    # compile on CUDA with the UNet in "reduce-overhead" mode (CUDA graphs) and SD's VAE encoder compiled)
    ("SD fp32 (TF32) eager", "sd", "fp32", {"compile": False}),
    ("SD fp16 eager", "sd", "fp16", {"compile": False}),
    ("SD bf16 eager", "sd", "bf16", {"compile": False}),
    ("SD bf16 eager, NHWC", "sd", "bf16", {"compile": False, "channels_last": True}),
    ("SD bf16 eager, Perp-Neg", "sd", "bf16", {"compile": False, "perp_neg": True}),
    ("SD bf16 compile default", "sd", "bf16", {"compile_mode": "default"}),
    ("SD bf16 (the default)", "sd", "bf16", {}),
    ("IF fp32 (TF32) eager", "if", "fp32", {"compile": False}),
    ("IF bf16 eager", "if", "bf16", {"compile": False}),
    ("IF bf16 (the default)", "if", "bf16", {}),
    ("SD bf16 eager, tiny VAE", "sd", "bf16", {"compile": False, "tiny_vae": "random"}),
    ("SD bf16, tiny VAE", "sd", "bf16", {"tiny_vae": "random"}),
]


def print_table(rows: list[dict], header: str) -> None:
    print(header)
    print(f"{'variant':<24} {'step ms':>8} {'render':>7} {'encode':>7} {'unet':>7} {'backward':>8} {'peak GiB':>8} {'1st step s':>10}")
    for r in rows:
        peak = "-" if r["peak_gib"] is None else f"{r['peak_gib']:.2f}"
        print(
            f"{r['variant']:<24} {r['step']:>8.1f} {r['render']:>7.2f} {r['encode']:>7.2f} {r['unet']:>7.2f} {r['backward']:>8.2f} {peak:>8} {r['first_step_s']:>10.1f}"
        )
    sys.stdout.flush()

# --------------------------------------------------------------------------- a whole job

JOB_CHILD = """
import json, resource, sys, time
started = time.perf_counter()
import torch
from dreamlift.cli import main
code = main(json.loads(sys.argv[1]))
report = {"code": code, "wall_s": time.perf_counter() - started, "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}
if torch.cuda.is_available():
    report["peak_cuda_gib"] = torch.cuda.max_memory_allocated() / 2**30
print("JOB " + json.dumps(report))
"""


def save_random_sd(folder: Path, tiny: bool, device: torch.device) -> Path:
    """A StableDiffusionPipeline folder of random weights: SD-2.1-base's UNet, VAE and text encoder (fp16 files),
    or with ``tiny`` the tests' tiny SD; the tokenizer is the tests' byte-level stand-in (the prompt is encoded once)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from guidance_real import tiny_models

    if tiny:
        return tiny_models.save_sd_folder(tiny_models.build_tiny_sd(folder.parent / "work"), folder)
    from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    with torch.device(device):  # random initialisation of 1.3 B parameters is much faster on a GPU
        unet = UNet2DConditionModel(**SD21_BASE_UNET).half()
        vae = AutoencoderKL(**SD_VAE).half()
        text_encoder = CLIPTextModel(CLIPTextConfig(**SD21_TEXT_ENCODER)).half()
    scheduler = PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000, skip_prk_steps=True, steps_offset=1)
    tokenizer = tiny_models.build_clip_tokenizer(folder.parent / "tokenizer_src")
    parts = {"unet": unet, "vae": vae, "text_encoder": text_encoder, "tokenizer": tokenizer, "scheduler": scheduler}
    return tiny_models.save_sd_folder(parts, folder)


def save_random_taesd(folder: Path, tiny: bool) -> Path:
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    AutoencoderTiny(**(TINY_TAESD if tiny else TAESD)).save_pretrained(str(folder))
    return folder


def step_seconds_by_size(run: Path) -> dict[int, float]:
    """Median logged step time (ms) per training render size, from the run's log.jsonl and config.json."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from dreamlift.config_tree import from_dict
    from dreamlift.training.config import TrainConfig

    config = from_dict(TrainConfig, json.loads((run / "config.json").read_text())["config"])
    by_size: dict[int, list[float]] = {}
    for line in (run / "log.jsonl").read_text().splitlines():
        row = json.loads(line)
        if "seconds" in row and row["step"] > 1:  # the first step compiles
            by_size.setdefault(config.training_view_at(row["step"] - 1)[0], []).append(row["seconds"] * 1000.0)
    return {size: round(statistics.median(values), 1) for size, values in sorted(by_size.items())}


def projected_preset_seconds(ms_by_size: dict[int, float]) -> float | None:
    """The training time of the sd-dreamfusion preset's default steps at these step times per render size
    (None when a size of its milestones was not reached)."""
    from dreamlift.presets import preset_config

    preset = preset_config("sd-dreamfusion")
    sizes = [preset.training_view_at(step)[0] for step in range(preset.steps)]
    if any(size not in ms_by_size for size in set(sizes)):
        return None
    return round(sum(ms_by_size[size] for size in sizes) / 1000.0, 1)


FINISHED = re.compile(r"(?P<steps>\d+) steps(?: \+ (?P<refine_steps>\d+) refinement steps)? in (?P<seconds>[\d.]+) s")
"""The line a finished run prints (``dreamlift.commands._common.finished_line``)."""

def run_job(args, device: torch.device, tiny_vae: bool) -> dict:
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        made = time.perf_counter()
        model = save_random_sd(work / "sd", args.tiny, device)
        settings = list(args.set)
        if tiny_vae:
            settings.append(f"prior.tiny_vae={save_random_taesd(work / 'taesd', args.tiny)}")
        folder_s = time.perf_counter() - made
        argv = ["text", "a hamburger", "--prior", str(model), "--out", str(work / "run"), "--quiet", "--device", device.type]
        argv += ["--steps", str(args.job_steps)] if args.job_steps else []
        argv += ["--no-export"] if args.job_export == "off" else []
        for setting in settings:
            argv += ["--set", setting]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")]))}
        done = subprocess.run([sys.executable, "-c", JOB_CHILD, json.dumps(argv)], capture_output=True, text=True, env=env)
        report = next((json.loads(line[4:]) for line in done.stdout.splitlines() if line.startswith("JOB ")), None)
        if report is None or report["code"] != 0:
            raise RuntimeError(f"the job failed: {done.stderr.strip()[-800:]}")
        finished = next((FINISHED.search(line) for line in done.stdout.splitlines() if FINISHED.search(line)), None)
        trained = float(finished["seconds"]) if finished else float("nan")  # both stages
        steps = int(finished["steps"]) if finished else 0
        by_size = step_seconds_by_size(work / "run")
        return {
            "variant": "SD job, tiny VAE" if tiny_vae else "SD job",
            "steps": steps,
            "wall_s": round(report["wall_s"], 1),
            "train_s": round(trained, 1),
            "ms_per_step_by_size": by_size,
            "projected_preset_train_s": projected_preset_seconds(by_size),
            "peak_cuda_gib": round(report["peak_cuda_gib"], 2) if "peak_cuda_gib" in report else None,
            "peak_rss_gib": round(report["peak_rss_gib"], 2),
            "model_folder_s": round(folder_s, 1),
        }


def preset_steps() -> int:
    from dreamlift.presets import preset_config

    return preset_config("sd-dreamfusion").steps


def print_job(row: dict, header: str) -> None:
    if header:
        print(header)
    peak = f"peak CUDA {row['peak_cuda_gib']:.2f} GiB, " if row["peak_cuda_gib"] is not None else ""
    sizes = ", ".join(f"{size} px {ms:.1f} ms" for size, ms in row["ms_per_step_by_size"].items())
    print(
        f"{row['variant']}: {row['steps']} steps, wall {row['wall_s']:.1f} s (training {row['train_s']:.1f} s); "
        f"median step by render size: {sizes}; {peak}peak resident {row['peak_rss_gib']:.2f} GiB; "
        f"the sd-dreamfusion preset's {preset_steps()} steps at these step times: {row['projected_preset_train_s'] or '-'} s of training "
        f"(random model folder written in {row['model_folder_s']:.1f} s, not counted)"
    )
    sys.stdout.flush()


# --------------------------------------------------------------------------- the field's encodings


def time_encodings(args, device: torch.device) -> list[dict]:
    """Median ms of one training render (forward + backward) per encoding the field offers, at the milestone sizes."""
    from dreamlift.rendering.cameras import CameraRanges, sample_cameras
    from dreamlift.rendering.occupancy import OccupancyGrid
    from dreamlift.rendering.renderer import RenderConfig, VolumeRenderer
    from dreamlift.rendering.shading import sample_lights
    from dreamlift.scene.field import EncodingKind, FieldConfig, NeRFField

    kinds = list(EncodingKind)
    if not any(kind.value == "hash-grid" for kind in kinds):
        print("nerf.encoding offers no hash grid in this checkout: timing the encodings it has")
    cuda = device.type == "cuda"
    rows = []
    for size in (16, 32) if args.tiny else (64, 128, 256):
        for kind in kinds:
            torch.manual_seed(0)
            field = NeRFField(FieldConfig(encoding=kind)).to(device)
            occupancy = OccupancyGrid(device=device)
            occupancy.update(field.density)
            renderer = VolumeRenderer(RenderConfig(), occupancy)
            generator = torch.Generator().manual_seed(0)
            times = []
            for index in range(args.warmup + args.steps):
                cameras = sample_cameras(CameraRanges(), args.batch, generator)
                lights = sample_lights(cameras, 30.0, (0.3, 0.5), generator)
                if cuda:
                    torch.cuda.synchronize()
                started = time.perf_counter()
                out = renderer.render(field, cameras.to(device), size, lights=lights.to(device), generator=generator)
                out.image.mean().backward()
                if cuda:
                    torch.cuda.synchronize()
                if index >= args.warmup:
                    times.append((time.perf_counter() - started) * 1000.0)
            rows.append({"encoding": kind.value, "size": size, "ms": round(statistics.median(times), 2)})
            print(f"encoding {kind.value:<10} {size:>4} px: {rows[-1]['ms']:.2f} ms per render + backward")
            sys.stdout.flush()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny configs (smoke test; CPU is fine)")
    parser.add_argument("--only", choices=("sd", "if"), default=None, help="run one prior's variants")
    parser.add_argument("--variants", default=None, help="comma-separated variant numbers (1-based) to run")
    parser.add_argument("--skip-compile", action="store_true", help="only the eager variants")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per variant (median reported)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (compilation happens here)")
    parser.add_argument("--render-size", type=int, default=64, help="stand-in render size (the presets' 64)")
    parser.add_argument("--batch", type=int, default=1, help="cameras per step (the presets' 1)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument("--job", action="store_true", help="time a whole dreamlift text job with random SD weights instead")
    parser.add_argument("--job-steps", type=int, default=None, help="the job's --steps (default: the preset's)")
    parser.add_argument("--job-tiny-vae", choices=("off", "on", "both"), default="off", help="the job with prior.tiny_vae (a random TAESD)")
    parser.add_argument("--job-export", choices=("on", "off"), default="on", help="the job writes mesh.glb and turntable.mp4 (default on)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a setting of the job (repeatable)")
    parser.add_argument("--encodings", action="store_true", help="time a training render per nerf.encoding instead")
    args = parser.parse_args(argv)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type != "cuda" and not args.tiny:
        print("no CUDA GPU: the full-size benchmark needs one (use --tiny for a CPU smoke test)")
        return 1
    torch.set_float32_matmul_precision("high")  # fp32 rows use TF32 tensor cores, as PyTorch users usually do
    import diffusers

    card = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    if args.job:
        print(f"{card}; torch {torch.__version__}; diffusers {diffusers.__version__}; whole jobs, random SD-2.1-base weights" + (" (tiny)" if args.tiny else ""))
        rows = []
        for tiny_vae in {"off": (False,), "on": (True,), "both": (False, True)}[args.job_tiny_vae]:
            rows.append(run_job(args, device, tiny_vae))
            print_job(rows[-1], "")
        if args.json:
            args.json.write_text(json.dumps({"card": card, "jobs": rows}, indent=2))
        return 0
    if args.encodings:
        print(f"{card}; torch {torch.__version__}; one training render + backward, batch {args.batch}, median of {args.steps}")
        rows = time_encodings(args, device)
        if args.json:
            args.json.write_text(json.dumps({"card": card, "encodings": rows}, indent=2))
        return 0
    header = f"{card}; torch {torch.__version__}; diffusers {diffusers.__version__}; render {args.render_size}px, batch {args.batch}; median of {args.steps} steps"
    rows = []
    chosen = {int(v) for v in args.variants.split(",")} if args.variants else set(range(1, len(VARIANTS) + 1))
    for number, (name, prior, dtype, options) in enumerate(VARIANTS, start=1):
        if number not in chosen or (args.only and prior != args.only) or (args.skip_compile and options.get("compile") is not False):
            continue
        try:
            rows.append(run_variant(name, prior, dtype, device, args, **options))
        except Exception as error:  # one failing variant (out of memory, compiler) must not lose the others
            print(f"{name}: failed: {type(error).__name__}: {' '.join(str(error).split())[:300]}")
            continue
        print_table(rows[-1:], header if len(rows) == 1 else "")
        if args.json:
            args.json.write_text(json.dumps({"header": header, "rows": rows}, indent=2))
    print()
    print_table(rows, header)
    return 0


if __name__ == "__main__":
    sys.exit(main())
