"""Where the viewer's third-party JavaScript is found, and its one-time install.

Two parts, each optional: <model-viewer> (the mesh) and Spark with three.js (a
Gaussian run's ``splats.ply``, :data:`SPLAT_FILES`). The viewer and the app start
without them: a page then shows the turntable video and a note where the model (or
the splats) would be (:data:`INSTALL_HINT`). They are looked for in ``node_modules``
folders, in this order (:func:`search_folders`):

1. ``$DREAMLIFT_WEB_MODULES`` when set, and then only there (an explicit choice: set it
   to an empty folder to serve the pages without the interactive model);
2. this package's ``dreamlift/web/node_modules`` (the development set-up:
   ``npm ci --prefix dreamlift/web``, gitignored, never committed);
3. the user's cache, ``<cache>/web/node_modules`` (:func:`dreamlift.cache.cache_dir`),
   written by ``dreamlift view --install-viewer`` (:func:`install_model_viewer`).

Nothing is ever fetched from the internet when a page is viewed; only the explicit
install runs npm.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from dreamlift.cache import cache_dir
from dreamlift.errors import DreamliftError

WEB_DIR = Path(__file__).resolve().parent
"""This package's folder (holds package.json, package-lock.json and, after the set-up, node_modules)."""
ENV_VAR = "DREAMLIFT_WEB_MODULES"
MODEL_VIEWER = Path("@google/model-viewer/dist/model-viewer.min.js")
"""The self-contained build of <model-viewer> (three.js included), relative to node_modules."""
SPLAT_FILES = {
    "spark.module.min.js": Path("@sparkjsdev/spark/dist/spark.module.min.js"),
    "three.module.min.js": Path("three/build/three.module.min.js"),
    "three.core.min.js": Path("three/build/three.core.min.js"),
    "Pass.js": Path("three/examples/jsm/postprocessing/Pass.js"),
    "OrbitControls.js": Path("three/examples/jsm/controls/OrbitControls.js"),
}
"""The splat view's ES modules (served as ``/vendor/splats/<name>``), relative to node_modules: Spark, the
three.js it imports (``three.module.min.js`` imports ``./three.core.min.js``; Spark imports ``Pass.js``) and
three's orbit controls."""
INSTALL_COMMAND = f"npm ci --prefix {WEB_DIR}"
"""The development set-up's install (model-viewer, the splat view and the tests' glTF validator into the package)."""
INSTALL_HINT = "dreamlift view --install-viewer"
"""The one-time install for a user of an installed package (into the cache)."""
NOT_INSTALLED_NOTE = f"note: the interactive 3D view is not installed (the pages show the turntable instead): run '{INSTALL_HINT}' once"
"""What ``dreamlift view`` and ``dreamlift app`` print at start (on stderr) when <model-viewer> is not found."""
SPLATS_NOT_INSTALLED_NOTE = f"note: the splat view (Spark) is not installed (a Gaussian run's page says so): run '{INSTALL_HINT}' once"
"""What ``dreamlift view`` prints at start (on stderr) when a run has ``splats.ply`` and Spark is not found."""
MANIFESTS = ("package.json", "package-lock.json")
NPM_CI = ("ci", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error")
"""npm's arguments for the install: the locked versions, without the tests' devDependencies."""


def cache_web_dir() -> Path:
    """The folder ``--install-viewer`` fills: ``<cache>/web`` (package.json, package-lock.json, node_modules)."""
    return cache_dir() / "web"


def search_folders() -> list[Path]:
    """The ``node_modules`` folders looked in, in order (see the module docstring)."""
    override = os.environ.get(ENV_VAR)
    if override:
        return [Path(override).expanduser().resolve()]
    return [WEB_DIR / "node_modules", cache_web_dir() / "node_modules"]


def find_installed(relative: Path) -> Path | None:
    """``folder / relative`` for the first search folder that has that file, or None."""
    for folder in search_folders():
        if (folder / relative).is_file():
            return folder / relative
    return None


def model_viewer_script() -> Path | None:
    """Path of model-viewer's script in the first search folder that has it, or None (not installed)."""
    return find_installed(MODEL_VIEWER)


def splat_modules() -> dict[str, Path] | None:
    """:data:`SPLAT_FILES` from the first search folder that has all of them (one install, never mixed), or None."""
    for folder in search_folders():
        if all((folder / relative).is_file() for relative in SPLAT_FILES.values()):
            return {name: folder / relative for name, relative in SPLAT_FILES.items()}
    return None


def find_npm() -> str:
    """The ``npm`` on PATH, or a DreamliftError saying to install Node.js and npm."""
    npm = shutil.which("npm")
    if npm is None:
        raise DreamliftError(
            "--install-viewer needs npm, which is not on PATH: install Node.js and npm "
            "(e.g. 'apt-get install nodejs npm' or https://nodejs.org), then run it again"
        )
    return npm


def _npm_ci(npm: str, folder: Path) -> None:
    """Run ``npm ci`` in ``folder`` (holding the package's manifests); a DreamliftError with npm's last line when it fails."""
    try:
        result = subprocess.run([npm, *NPM_CI], cwd=folder, capture_output=True, text=True, check=False)
    except OSError as error:
        raise DreamliftError(f"cannot run {npm} ({error.strerror or error}): reinstall Node.js and npm, then run '{INSTALL_HINT}' again") from None
    if result.returncode != 0:
        lines = [line for line in (result.stderr or result.stdout or "").splitlines() if line.strip()]
        said = f": {lines[-1].strip()}" if lines else ""
        raise DreamliftError(
            f"npm ci failed (exit {result.returncode}){said}; check the network (or npm's proxy settings) and run "
            f"'{INSTALL_HINT}' again"
        )
    for relative in (MODEL_VIEWER, *SPLAT_FILES.values()):
        if not (folder / "node_modules" / relative).is_file():
            raise DreamliftError(f"npm ci finished but installed no {relative}: run '{INSTALL_HINT}' again")


def _swap_in(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``; an earlier ``target`` is renamed aside first (and back if the rename fails), then removed."""
    if not target.exists():
        os.replace(staging, target)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}-old-", dir=target.parent))
    try:
        os.replace(target, aside / target.name)
        try:
            os.replace(staging, target)
        except OSError:
            os.replace(aside / target.name, target)
            raise
    finally:
        shutil.rmtree(aside, ignore_errors=True)


def install_model_viewer() -> Path:
    """Install <model-viewer> and the splat view into :func:`cache_web_dir` with ``npm ci`` and the package's own
    manifests; <model-viewer>'s script's path.

    npm works in a fresh temporary folder beside the target, which is renamed into
    place only once the install is complete: an interrupted or failed install leaves
    an earlier one as it was, and never a half-filled folder.
    """
    npm = find_npm()
    target = cache_web_dir()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".web-install-", dir=target.parent))
    except OSError as error:
        raise DreamliftError(
            f"cannot write the cache folder {target.parent} ({error.strerror or error}): set DREAMLIFT_CACHE to a writable folder"
        ) from None
    try:
        for name in MANIFESTS:
            shutil.copyfile(WEB_DIR / name, staging / name)
        _npm_ci(npm, staging)
        try:
            _swap_in(staging, target)
        except OSError as error:
            raise DreamliftError(f"cannot put the install in place at {target} ({error.strerror or error}): run '{INSTALL_HINT}' again") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target / "node_modules" / MODEL_VIEWER
