"""dreamlift's per-user cache folder (the toy prior's memorised renders, the viewer's installed JavaScript).

Light on purpose (standard library only): the web server and the command line read it
without importing torch.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "DREAMLIFT_CACHE"


def cache_dir() -> Path:
    """``$DREAMLIFT_CACHE``, else ``$XDG_CACHE_HOME/dreamlift``, else ``~/.cache/dreamlift``."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dreamlift"
