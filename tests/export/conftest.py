"""Fixtures for the exporter tests: analytic fields, dreamlift's renderer, the glTF validator."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dreamlift.export.analytic import SDFField, box_sdf, sphere_sdf, union_sdf
from dreamlift.web.modules import find_installed, search_folders

VALIDATOR_SCRIPT = Path(__file__).with_name("validate_gltf.cjs")
RED = (0.86, 0.12, 0.12)


@pytest.fixture
def soft_sphere() -> SDFField:
    """Radius 0.5, edge width 0.02, peak density 100: its opacity edge sits well outside 0.5."""
    return SDFField(sphere_sdf(radius=0.5), albedo=RED, peak=100.0, width=0.02)


@pytest.fixture
def two_colour_sphere() -> SDFField:
    """Radius 0.5; albedo red where x > 0, blue where x < 0."""
    import torch

    red, blue = torch.tensor(RED), torch.tensor((0.15, 0.30, 0.90))

    def albedo(p):
        return torch.where((p[:, :1] > 0), red, blue)

    return SDFField(sphere_sdf(radius=0.5), albedo=albedo, peak=100.0, width=0.02)


@pytest.fixture
def box_field() -> SDFField:
    """Box [-0.45, 0.45]³ with a sharp edge (width 0.001, peak 1000)."""
    return SDFField(box_sdf((-0.45,) * 3, (0.45,) * 3), albedo=RED, peak=1000.0, width=0.001)


@pytest.fixture
def sphere_with_floater() -> SDFField:
    """A ball of radius 0.45 and a small ball (radius 0.08) floating at (0.7, 0.5, 0)."""
    sdf = union_sdf(sphere_sdf(radius=0.45), sphere_sdf((0.7, 0.5, 0.0), 0.08))
    return SDFField(sdf, albedo=RED, peak=100.0, width=0.01)


@pytest.fixture(scope="session")
def gltf_validator():
    """A function ``path -> report`` running the Khronos glTF validator with node (skips if absent)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: apt-get install nodejs npm, then npm ci --prefix dreamlift/web")
    manifest = find_installed(Path("gltf-validator/package.json"))
    if manifest is None:
        pytest.skip(f"gltf-validator is not installed in {search_folders()[0]}: run npm ci --prefix dreamlift/web")
    modules = manifest.parents[1]

    def validate(path: Path) -> dict:
        env = dict(os.environ, NODE_PATH=str(modules))
        done = subprocess.run([node, str(VALIDATOR_SCRIPT), str(path)], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    return validate
