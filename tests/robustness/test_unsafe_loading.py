"""Nothing from a model folder or a run folder is executed (issue 6, "Safety").

A static scan of every module of the package: ``torch.load`` is always called with
``weights_only=True``, ``trust_remote_code`` is never anything but ``False``, and
pickle, ``numpy.load(allow_pickle=True)``, ``eval``/``exec`` and friends are not used.
The scanner is tested on small bad sources first, so it cannot pass by seeing nothing.
Then the one place that reads a pickled file (a Zero-1-to-3 camera projection saved
as ``.bin``) is fed a pickle that would run code: it refuses, and the code does not run.
"""

from __future__ import annotations

import ast
import pickle
from pathlib import Path

import pytest
import torch

import dreamlift

PACKAGE = Path(dreamlift.__file__).resolve().parent


def _name(node: ast.AST) -> str:
    """Dotted name of a call target: ``torch.load``, ``pickle.loads``, ``eval``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return "?"


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_constant(node: ast.expr | None, value) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


UNSAFE_MODULES = {"pickle", "cPickle", "dill", "cloudpickle", "joblib", "marshal", "shelve"}
UNSAFE_CALLS = {"eval", "exec", "torch.jit.load", "torch.hub.load", "yaml.load", "yaml.unsafe_load"}


def unsafe_uses(source: str, filename: str = "<source>") -> list[str]:
    """Every unsafe loading construct in ``source``, as ``file:line: what``."""
    found = []
    tree = ast.parse(source, filename)
    torch_names = {"torch"} | {a.asname for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names if a.name == "torch" and a.asname}
    for node in ast.walk(tree):
        where = f"{filename}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            found += [f"{where}: imports {a.name}" for a in node.names if a.name.split(".")[0] in UNSAFE_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNSAFE_MODULES:
            found.append(f"{where}: imports from {node.module}")
        elif isinstance(node, ast.ImportFrom) and node.module == "torch" and any(a.name == "load" for a in node.names):
            found.append(f"{where}: imports torch.load by name (its calls cannot be checked)")
        elif isinstance(node, ast.Call):
            name = _name(node.func)
            head, _, attr = name.rpartition(".")
            if head in torch_names and attr == "load" and not _is_constant(_keyword(node, "weights_only"), True):
                found.append(f"{where}: torch.load without weights_only=True")
            pickles = _keyword(node, "allow_pickle")
            if name in ("np.load", "numpy.load") and pickles is not None and not _is_constant(pickles, False):
                found.append(f"{where}: {name} with allow_pickle")
            if name in UNSAFE_CALLS:
                found.append(f"{where}: calls {name}")
            remote = _keyword(node, "trust_remote_code")
            if remote is not None and not _is_constant(remote, False):
                found.append(f"{where}: trust_remote_code is not False")
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == "trust_remote_code" and not _is_constant(value, False):
                    found.append(f"{where}: trust_remote_code is not False")
    return found


BAD_SOURCES = [
    "import torch\ntorch.load('x.pt')",
    "import torch\ntorch.load('x.pt', weights_only=False)",
    "import torch\nflag = True\ntorch.load('x.pt', weights_only=flag)",
    "from torch import load\nload('x.pt')",
    "import pickle\npickle.loads(b'')",
    "from pickle import loads",
    "import joblib",
    "import numpy as np\nnp.load('x.npy', allow_pickle=True)",
    "eval('1 + 1')",
    "exec('x = 1')",
    "import torch\ntorch.jit.load('m.pt')",
    "import torch as T\nT.load('x.pt')",
    "Model.from_pretrained('x', trust_remote_code=True)",
    "Model.from_pretrained('x', trust_remote_code=allow)",
    "kwargs = {'trust_remote_code': True}",
    "kwargs = dict(trust_remote_code=True)",
]
GOOD_SOURCES = [
    "import torch\ntorch.load('x.pt', map_location='cpu', weights_only=True)",
    "import numpy as np\nnp.load('x.npy')",
    "Model.from_pretrained('x', trust_remote_code=False)",
    "module.eval()",
    "from safetensors.torch import load_file\nload_file('x.safetensors')",
]


@pytest.mark.parametrize("source", BAD_SOURCES)
def test_the_scanner_finds_each_unsafe_construct(source):
    assert unsafe_uses(source), source


@pytest.mark.parametrize("source", GOOD_SOURCES)
def test_the_scanner_passes_safe_code(source):
    assert unsafe_uses(source) == []


def test_no_module_of_the_package_loads_anything_unsafely():
    modules = sorted(p for p in PACKAGE.rglob("*.py") if "node_modules" not in p.parts)
    assert len(modules) > 30  # the whole package was scanned, not an empty folder
    found = []
    for path in modules:
        found += unsafe_uses(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE.parent)))
    assert found == [], "\n".join(found)


def test_the_package_does_read_pickles_somewhere_and_only_safely():
    """The scan is not vacuous: the Zero-1-to-3 loader does call torch.load, with weights_only=True."""
    source = (PACKAGE / "guidance" / "zero123.py").read_text(encoding="utf-8")
    calls = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call) and _name(n.func) == "torch.load"]
    assert calls and all(_is_constant(_keyword(c, "weights_only"), True) for c in calls)


class RunsCode:
    """Unpickling this object would call ``Path.touch`` on a marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_that_runs_code_is_refused_and_does_not_run(tmp_path):
    from dreamlift.guidance.zero123 import load_camera_projection

    marker = tmp_path / "owned"
    (tmp_path / "model" / "cc_projection").mkdir(parents=True)
    weights = tmp_path / "model" / "cc_projection" / "diffusion_pytorch_model.bin"
    payload = pickle.dumps({"weight": RunsCode(tmp_path / "proof")}, protocol=2)
    pickle.loads(payload)  # the payload is live: a plain unpickler runs it
    assert (tmp_path / "proof").exists()
    weights.write_bytes(pickle.dumps({"weight": RunsCode(marker)}, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="[Ww]eights only load failed"):
        load_camera_projection(tmp_path / "model")
    assert not marker.exists()
    # the same folder with plain tensors in the pickle loads: pickles are read, safely, not refused wholesale
    torch.save({"weight": torch.zeros(8, 12), "bias": torch.zeros(8)}, weights)
    layer = load_camera_projection(tmp_path / "model")
    assert (layer.in_features, layer.out_features) == (12, 8)
