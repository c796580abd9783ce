"""Where the viewer's third-party JavaScript is installed, and the error when it is not.

The set-up installs it with npm from the committed ``package.json`` and
``package-lock.json``: ``npm ci --prefix dreamlift/web`` puts it in
``dreamlift/web/node_modules`` (gitignored, never committed). ``$DREAMLIFT_WEB_MODULES``
may name another ``node_modules`` folder (e.g. for an installed package). Nothing is
ever fetched from the internet when a page is viewed.
"""

from __future__ import annotations

import os
from pathlib import Path

from dreamlift.errors import DreamliftError

WEB_DIR = Path(__file__).resolve().parent
"""This package's folder (holds package.json and, after the set-up, node_modules)."""
ENV_VAR = "DREAMLIFT_WEB_MODULES"
MODEL_VIEWER = Path("@google/model-viewer/dist/model-viewer.min.js")
"""The self-contained build of <model-viewer> (three.js included), relative to node_modules."""
INSTALL_COMMAND = f"npm ci --prefix {WEB_DIR}"


def node_modules() -> Path:
    """``$DREAMLIFT_WEB_MODULES`` when set, else ``dreamlift/web/node_modules``."""
    override = os.environ.get(ENV_VAR)
    return Path(override).expanduser().resolve() if override else WEB_DIR / "node_modules"


def model_viewer_script() -> Path:
    """Path of model-viewer's script, or a DreamliftError saying the one command that installs it."""
    path = node_modules() / MODEL_VIEWER
    if not path.is_file():
        where = f"${ENV_VAR} ({node_modules()})" if os.environ.get(ENV_VAR) else str(node_modules())
        raise DreamliftError(
            f"the viewer needs <model-viewer>, which is not installed in {where}: run '{INSTALL_COMMAND}' "
            f"(needs node and npm), or set {ENV_VAR} to a node_modules folder that has @google/model-viewer"
        )
    return path
