"""The quality of a learned prior (issue 27, item 5): its samples against held-out toy-world renders.

Text model: every caption (or ``--captions``) x the front, side and back suffixes, ``--samples`` each,
drawn with diffusers' StableDiffusionPipeline; view model: ``--pairs`` held-out pairs per caption, the
target sampled by DDIM through the Zero-1-to-3 guidance. Prints each caption's mean silhouette IoU and
colour error, then the means over all (targets: IoU >= 0.85, colour error <= 0.08 for the text model;
IoU >= 0.85 for the view model), and with ``--grid PNG`` writes a grid of samples beside their best truth.
Definitions: :mod:`dreamlift.learned.quality`.

    python bench/prior_quality.py text --model /work/trained/toy-sd/model
    python bench/prior_quality.py text --model MODEL --captions "a red cube" "a green tree" --grid docs/images/toy-sd-samples.png
    python bench/prior_quality.py view --model /work/trained/toy-zero123/model --pairs 4
    python bench/prior_quality.py truth    # true renders scored as text samples: the floor of the text measure
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def grid(folder: Path, captions: list[str], out: Path, guidance_scale: float, steps: int, truths: int) -> None:
    """A PNG: one row per caption, front/side/back samples, each beside its best-matching held-out render."""
    import torch
    from diffusers import StableDiffusionPipeline

    from dreamlift._atomic import write_png
    from dreamlift.learned import quality
    from dreamlift.toyworld import parse_caption

    pipe = StableDiffusionPipeline.from_pretrained(str(folder), local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    rows = []
    for number, text in enumerate(captions):
        by_suffix = quality.truths_by_suffix(parse_caption(text), truths, size)
        prompts = [text + suffix for suffix in quality.SUFFIXES]
        drawn = pipe(prompts, num_inference_steps=steps, guidance_scale=guidance_scale, output_type="pt",
                     generator=torch.Generator().manual_seed(number)).images.float().clamp(0, 1)
        row = []
        for suffix, sample in zip(quality.SUFFIXES, drawn):
            chosen = by_suffix[suffix]
            row += [sample, chosen[quality.best_match(sample, chosen)[0]]]
        rows.append(torch.cat(row, dim=2))
    picture = torch.cat(rows, dim=1).permute(1, 2, 0)
    write_png(out, picture)
    print(f"wrote {out}: rows {captions}; columns front, side, back, each sample then its closest held-out render")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["text", "view", "truth"], help="truth: true renders scored as text samples (the measure's floor)")
    parser.add_argument("--model", type=Path, default=None, help="a trained model folder (DIR/model of train-prior); not for truth")
    parser.add_argument("--captions", nargs="*", default=None, help="captions to measure (default: all 96)")
    parser.add_argument("--samples", type=int, default=2, help="text: samples per caption and suffix")
    parser.add_argument("--truths", type=int, default=None, help="text, truth: held-out renders per caption to match against (default 256)")
    parser.add_argument("--pairs", type=int, default=4, help="view: held-out pairs per caption")
    parser.add_argument("--steps", type=int, default=50, help="sampling steps (PNDM for text, DDIM for view)")
    parser.add_argument("--guidance-scale", type=float, default=None, help="classifier-free guidance (text 2, view 3)")
    parser.add_argument("--grid", type=Path, default=None, help="text: write a grid of samples to this PNG")
    parser.add_argument("--grid-captions", nargs="*", default=["a red cube", "a green tree", "a blue chair", "a yellow snowman", "a purple torus", "a pink house", "an orange mushroom", "a cyan table"])
    parser.add_argument("--per-sample", action="store_true", help="print every sample's scores")
    args = parser.parse_args()
    if (args.model is None) != (args.kind == "truth"):
        parser.error("--model is needed for text and view, and not taken for truth")

    import torch
    from diffusers.utils import logging as diffusers_logging

    from dreamlift.learned import quality
    from dreamlift.toyworld import all_objects, parse_caption

    diffusers_logging.disable_progress_bar()

    torch.manual_seed(0)
    objects = [parse_caption(text) for text in args.captions] if args.captions else all_objects()
    for text in args.grid_captions:
        parse_caption(text)  # a bad grid caption fails now, not after the measure
    truths = quality.TRUTHS if args.truths is None else args.truths
    started = time.perf_counter()
    if args.kind == "text":
        scale = 2.0 if args.guidance_scale is None else args.guidance_scale
        scores = quality.text_model_scores(args.model, objects, samples=args.samples, steps=args.steps, guidance_scale=scale, truths=truths)
    elif args.kind == "truth":
        scores = quality.true_render_scores(objects, samples=args.samples, truths=truths)
    else:
        scale = 3.0 if args.guidance_scale is None else args.guidance_scale
        scores = quality.view_model_scores(args.model, objects, pairs=args.pairs, steps=args.steps, guidance_scale=scale)
    seconds = time.perf_counter() - started
    by_caption = defaultdict(list)
    for score in scores:
        by_caption[score.prompt.split(",")[0].split(":")[0]].append(score)
        if args.per_sample:
            print(f"  {score.prompt:45s} IoU {score.iou:.3f}  colour {score.colour:.3f}")
    print(f"{'caption':28s} {'n':>3s} {'IoU':>6s} {'min':>6s} {'colour':>7s}")
    for text, rows in by_caption.items():
        print(f"{text:28s} {len(rows):3d} {statistics.mean(r.iou for r in rows):6.3f} {min(r.iou for r in rows):6.3f} {statistics.mean(r.colour for r in rows):7.3f}")
    total = quality.summary(scores)
    target = "IoU >= 0.85, colour <= 0.08" if args.kind in ("text", "truth") else "IoU >= 0.85"
    measured = "true renders (the floor)" if args.kind == "truth" else f"{args.kind} model {args.model}, guidance {scale}, {args.steps} steps"
    if args.kind != "view":
        measured += f", matched against {truths} held-out renders a caption"
    print(f"{measured}: {total['count']} samples over {len(by_caption)} captions, "
          f"{seconds:.0f} s: mean IoU {total['iou']:.3f} (worst {total['min_iou']:.3f}), mean colour error {total['colour']:.3f} (target {target})")
    if args.grid is not None and args.kind == "text":
        grid(args.model, args.grid_captions, args.grid, scale, args.steps, truths)


if __name__ == "__main__":
    main()
