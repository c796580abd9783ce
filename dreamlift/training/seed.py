"""The run's seed: the whole numbers ``torch.Generator.manual_seed`` takes as themselves.

torch accepts 0 to 2**64 - 1 and also negative numbers down to -2**63, which it wraps
to 2**64 + seed (so -1 would be the same run as 18446744073709551615). dreamlift
refuses negative seeds, so every run has one spelling of its seed.
"""

from __future__ import annotations

from dreamlift.errors import DreamliftError

SEED_LIMIT = 2**64
"""Seeds are whole numbers with ``0 <= seed < SEED_LIMIT``."""

SEED_RANGE = f"0 to {SEED_LIMIT - 1} (2**64 - 1)"
"""The allowed range as the messages and ``--help`` write it."""


def check_seed(seed: object, name: str = "seed") -> int:
    """Return ``seed`` if it is a whole number in ``[0, 2**64)``; otherwise raise a one-line :class:`DreamliftError`."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise DreamliftError(f"{name} must be a whole number from {SEED_RANGE}, got {str(seed)[:40]!r}")
    if not 0 <= seed < SEED_LIMIT:
        shown = str(seed) if seed.bit_length() <= 128 else f"with {len(str(seed))} digits"
        raise DreamliftError(f"{name} {shown} is out of range: use a whole number from {SEED_RANGE}")
    return seed
