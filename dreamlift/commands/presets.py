"""``dreamlift presets``: the named presets, which command takes each, and what it is for."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", default=None, help="print this preset's full settings as JSON (a valid --config)")


def run(args: argparse.Namespace) -> int:
    from dreamlift.commands._settings import print_config
    from dreamlift.presets import PRESETS, default_preset_name, get_preset

    if args.name is not None:
        preset = get_preset(args.name)
        print_config(preset.build(), preset.kind)
        return 0
    width = max(len(p.name) for p in PRESETS)
    for preset in PRESETS:
        prior = preset.build().prior.name
        default = " (default)" if default_preset_name(prior) == preset.name else ""
        print(f"{preset.name:<{width}}  dreamlift {preset.kind:<5}  prior {prior}{default}: {preset.description}")
    return 0
