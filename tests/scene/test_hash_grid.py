"""Instant-NGP's hash grid encoding: dense levels against trilinear closed forms, the hash against its
formula, gradients against finite differences, collision rates against balls-into-bins, and a field
with it that trains, checkpoints and runs through the command line."""

import json
import math

import pytest
import torch
import torch.nn.functional as F

from dreamlift.config_tree import from_dict, to_dict
from dreamlift.errors import DreamliftError
from dreamlift.scene.encodings import HASH_PRIMES, HashGridConfig, HashGridEncoding, hash_corners
from dreamlift.scene.field import EncodingKind, FieldConfig, NeRFField
from dreamlift.distillation.checkpoint import load_latest_checkpoint, prefixed, save_checkpoint

SMALL = HashGridConfig(levels=4, features_per_level=2, log2_table_size=10, base_resolution=4, finest_resolution=32)
"""Levels of 4, 8, 16 and 32 cells: 125 and 729 vertices fit in 1024 entries (dense), 17³ and 33³ do not (hashed)."""


def _vertex_world(index: torch.Tensor, resolution: int, bound: float) -> torch.Tensor:
    """World coordinate of vertex ``index`` (0 … resolution) of a level."""
    return (2.0 * index / resolution - 1.0) * bound


def test_the_levels_follow_instant_ngps_geometric_series():
    config = HashGridConfig()  # threestudio's: 16 levels from 16 to 4096 cells
    resolutions = config.resolutions()
    growth = (4096 / 16) ** (1 / 15)
    assert growth == pytest.approx(1.447269237440378, abs=1e-12)  # threestudio's per_level_scale
    assert resolutions == [math.floor(16 * growth**level + 1e-6) for level in range(16)]
    assert resolutions[:6] == [16, 23, 33, 48, 70, 101] and resolutions[-1] == 4096
    encoding = HashGridEncoding(SMALL)
    assert encoding.resolutions == [4, 8, 16, 32] and encoding.dense == [True, True, False, False]
    assert [t.shape for t in encoding.tables] == [(125, 2), (729, 2), (1024, 2), (1024, 2)]
    assert encoding.output_dim == 8


def test_a_dense_level_reproduces_a_trilinear_function_exactly():
    """Vertex values of ``a + b·x + c·y + d·z + e·xy + f·yz + g·xz + h·xyz`` are interpolated back to that function."""
    config = HashGridConfig(levels=1, features_per_level=2, log2_table_size=8, base_resolution=5, finest_resolution=5)
    bound = 0.8
    encoding = HashGridEncoding(config, bound=bound).double()
    assert encoding.dense == [True] and encoding.tables[0].shape == (216, 2)
    coefficients = torch.tensor([[0.3, -1.2, 0.7, 2.0, 0.5, -0.9, 1.1, 1.7], [-0.4, 0.2, -0.6, 0.9, -1.3, 0.8, 0.1, -2.2]], dtype=torch.float64)

    def trilinear(p):
        x, y, z = p.unbind(-1)
        monomials = torch.stack((torch.ones_like(x), x, y, z, x * y, y * z, x * z, x * y * z), dim=-1)
        return monomials @ coefficients.t()

    side = 6
    index = torch.arange(side**3)
    i, j, k = index % side, (index // side) % side, index // side**2  # row = i + 6·j + 36·k
    vertices = torch.stack([_vertex_world(v.double(), 5, bound) for v in (i, j, k)], dim=-1)
    with torch.no_grad():
        encoding.tables[0].copy_(trilinear(vertices))
    points = (torch.rand(500, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2 - 1) * bound
    torch.testing.assert_close(encoding(points), trilinear(points), atol=1e-12, rtol=0)


def test_dense_levels_match_grid_sample_on_the_same_values_in_float32():
    """Random vertex values: each dense level equals ``grid_sample(align_corners=True)`` of its table as a volume."""
    torch.manual_seed(0)
    encoding = HashGridEncoding(SMALL, bound=1.0)
    points = torch.rand(1000, 3) * 2.2 - 1.1  # some outside the cube: both clamp to the border
    out = encoding(points)
    for level in (0, 1):
        side = encoding.resolutions[level] + 1
        volume = encoding.tables[level].detach().reshape(side, side, side, 2).permute(3, 0, 1, 2)[None]  # (1, F, z, y, x)
        expected = F.grid_sample(volume, points.reshape(1, -1, 1, 1, 3), mode="bilinear", padding_mode="border", align_corners=True)
        torch.testing.assert_close(out[:, 2 * level : 2 * level + 2], expected.reshape(2, -1).t(), atol=1e-6, rtol=1e-5)


def test_the_hash_is_instant_ngps_formula_at_hand_picked_corners():
    table = 2**19
    corners = [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1), (3, 5, 7), (4096, 4095, 17), (2**20, 2**20, 2**20)]
    got = hash_corners(torch.tensor(corners), table).tolist()
    expected = [((x * 1) ^ (y * 2654435761) ^ (z * 805459861)) % table for x, y, z in corners]
    assert got == expected
    # π₂ = 0x9E3779B1 and π₃ = 0x30025795: their low 19 bits are 0x779B1 and 0x25795
    assert got[:4] == [0, 1, 0x779B1, 0x25795] == [0, 1, 489905, 153493]
    # the paper's uint32 arithmetic wraps; its low 19 bits are the same
    assert got[5] == ((4096 ^ ((4095 * 2654435761) % 2**32) ^ ((17 * 805459861) % 2**32)) % table)
    assert HASH_PRIMES == (1, 2654435761, 805459861)


def test_a_point_on_a_vertex_of_a_hashed_level_reads_that_vertexs_hashed_row():
    config = HashGridConfig(levels=1, features_per_level=2, log2_table_size=12, base_resolution=256, finest_resolution=256)
    torch.manual_seed(0)
    encoding = HashGridEncoding(config)
    assert encoding.dense == [False]
    vertices = torch.tensor([[3, 5, 7], [200, 17, 100], [128, 128, 128]])
    points = _vertex_world(vertices.float(), 256, 1.0)  # exact in float32: multiples of 1/128
    rows = [((x * 1) ^ (y * 2654435761) ^ (z * 805459861)) % 4096 for x, y, z in vertices.tolist()]
    torch.testing.assert_close(encoding(points), encoding.tables[0].detach()[rows], atol=0, rtol=0)


def test_dense_indexing_is_one_to_one():
    encoding = HashGridEncoding(SMALL)
    side = 9
    grid = torch.stack(torch.meshgrid(*(torch.arange(side),) * 3, indexing="ij"), dim=-1).reshape(-1, 3)
    rows = encoding.level_indices(1, grid)
    assert sorted(rows.tolist()) == list(range(side**3))
    assert rows[grid.tolist().index([2, 3, 4])].item() == 2 + 9 * 3 + 81 * 4


def test_gradients_match_finite_differences_for_the_tables_and_the_points():
    torch.manual_seed(0)
    config = HashGridConfig(levels=3, features_per_level=2, log2_table_size=6, base_resolution=2, finest_resolution=8)
    encoding = HashGridEncoding(config, bound=1.5).double()
    assert encoding.dense == [True, False, False]  # 27 rows, then 5³ and 9³ vertices hashed into 64: they collide
    points = ((torch.rand(40, 3, dtype=torch.float64) * 2 - 1) * 1.4).requires_grad_(True)
    tables = [t.detach().clone().normal_().requires_grad_(True) for t in encoding.tables]
    names = [f"tables.{i}" for i in range(len(tables))]

    def encode(p, *ts):
        return torch.func.functional_call(encoding, dict(zip(names, ts)), (p,))

    assert torch.autograd.gradcheck(encode, (points, *tables), eps=1e-6, atol=1e-7, rtol=1e-5)
    # and by hand: a central difference along z at one point, against autograd in float64
    p = points[:1].detach()
    weights = torch.randn(1, encoding.output_dim, dtype=torch.float64)
    step = torch.tensor([[0.0, 0.0, 1e-6]], dtype=torch.float64)
    numeric = ((encode(p + step, *tables) - encode(p - step, *tables)) * weights).sum() / 2e-6
    q = p.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad((encode(q, *tables) * weights).sum(), q)
    assert grad[0, 2].item() == pytest.approx(numeric.item(), rel=1e-6, abs=1e-9)


def test_colliding_vertices_share_entries_at_the_balls_into_bins_rate():
    """The default grid's level 5 (101 cells: 102³ ≈ 2.0·2¹⁹ vertices) against a uniform random map.

    With ``V`` vertices in ``T`` rows, a uniform map leaves a vertex alone in its row with probability
    ``(1 − 1/T)^(V−1) ≈ e^(−V/T)`` and uses ``T(1 − e^(−V/T))`` rows.
    """
    encoding = HashGridEncoding(HashGridConfig(levels=6, finest_resolution=101, base_resolution=16, log2_table_size=19))
    assert encoding.resolutions[5] == 101 and encoding.dense[4] and not encoding.dense[5]
    side, table = 102, 2**19
    grid = torch.stack(torch.meshgrid(*(torch.arange(side),) * 3, indexing="ij"), dim=-1).reshape(-1, 3)
    rows = encoding.level_indices(5, grid)
    load = torch.bincount(rows, minlength=table)
    shared = (load[rows] > 1).double().mean().item()
    used = (load > 0).double().mean().item()
    expected = 1.0 - math.exp(-(side**3) / table)  # 0.868
    assert shared == pytest.approx(expected, abs=0.01)  # measured 0.871
    assert used == pytest.approx(expected, abs=0.03)  # measured 0.888: the primes spread a grid a little better than chance
    assert load.max().item() <= 12  # Poisson(2.02)'s largest of 2¹⁹ draws is about 10


def test_the_initial_tables_follow_the_seed_and_instant_ngps_range():
    def tables(seed):
        torch.manual_seed(seed)
        return torch.cat([t.detach().reshape(-1) for t in HashGridEncoding(SMALL).tables])

    first, again, other = tables(3), tables(3), tables(4)
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert first.abs().max().item() <= 1e-4
    assert first.std().item() == pytest.approx(1e-4 / math.sqrt(3), rel=0.05)  # uniform on [−10⁻⁴, 10⁻⁴]


@pytest.mark.parametrize(
    "change, words",
    [
        ({"log2_table_size": 40}, ["log2_table_size 40", "4 to 30"]),
        ({"levels": 0}, ["levels", "at least 1"]),
        ({"base_resolution": 64, "finest_resolution": 32}, ["finest_resolution at least base_resolution", "64 and 32"]),
        ({"init_scale": -1.0}, ["init_scale"]),
    ],
)
def test_bad_settings_are_one_line_errors(change, words):
    config = FieldConfig(encoding=EncodingKind.HASH_GRID, hash_grid=HashGridConfig(**change))
    with pytest.raises(DreamliftError) as error:
        config.validate()
    assert all(w in str(error.value) for w in words) and "\n" not in str(error.value)
    with pytest.raises(DreamliftError):
        NeRFField(config)
    FieldConfig(hash_grid=HashGridConfig(**change)).validate()  # not used by the dense grids: no error


def _hash_field_config() -> FieldConfig:
    return FieldConfig(encoding=EncodingKind.HASH_GRID, hash_grid=HashGridConfig(levels=8, log2_table_size=14, finest_resolution=256))


def test_a_hash_grid_field_fits_a_target_and_round_trips_through_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    config = _hash_field_config()
    field = NeRFField(config)
    generator = torch.Generator().manual_seed(0)
    points = torch.rand(4096, 3, generator=generator) * 1.8 - 0.9
    target_density = 20.0 * (points.norm(dim=-1) < 0.4).float()  # a small hard ball
    target_albedo = torch.where(points[:, :1] > 0, torch.tensor([0.9, 0.1, 0.1]), torch.tensor([0.1, 0.2, 0.9]))
    optimizer = torch.optim.Adam(field.parameters(), lr=0.01)
    losses = []
    for _ in range(40):
        density, albedo = field(points)
        loss = ((density - target_density) ** 2).mean() / 100.0 + ((albedo - target_albedo) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0], losses[::10]

    state = {f"field.{k}": v for k, v in field.state_dict().items()}
    assert sorted(k for k in state if "encoding" in k) == [f"field.encoding.tables.{i}" for i in range(8)]
    save_checkpoint(tmp_path / "checkpoints", 40, state, {})
    checkpoint, skipped = load_latest_checkpoint(tmp_path / "checkpoints")
    assert not skipped
    reloaded_config = from_dict(FieldConfig, json.loads(json.dumps(to_dict(config))))
    assert reloaded_config == config
    torch.manual_seed(123)  # a different initialisation, overwritten by the checkpoint
    again = NeRFField(reloaded_config)
    again.load_state_dict(prefixed(checkpoint.tensors, "field"))
    with torch.no_grad():
        for a, b in zip(field(points), again(points)):
            torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_a_config_without_the_hash_settings_loads_with_the_old_default(tmp_path):
    """A run folder written before the hash grid existed: its nerf section has no hash_grid key."""
    from pathlib import Path

    data = Path(__file__).parents[1] / "training" / "data"
    old = json.loads((data / "format1-text-config.json").read_text())["config"]["nerf"]
    assert "hash_grid" not in old
    config = from_dict(FieldConfig, old)
    assert config.encoding is EncodingKind.GRID and config.hash_grid == HashGridConfig()
    torch.manual_seed(0)
    field = NeRFField(config)
    assert type(field.encoding).__name__ == "DenseGridEncoding"
    assert sorted(k for k in field.state_dict() if k.startswith("encoding")) == ["encoding.grids.0", "encoding.grids.1"]


def test_two_training_steps_with_the_hash_grid_through_the_command_line(tmp_path, cli):
    from dreamlift.training.run_folder import load_stage1

    out = tmp_path / "run"
    outcome = cli(
        "text", "a red cube", "--steps", "2", "--no-export", "--quiet", "--refine", "off", "--out", str(out),
        "--set", "nerf.encoding=hash-grid", "--set", "nerf.hash_grid.log2_table_size=14", "--set", "nerf.hash_grid.finest_resolution=512",
    )
    assert outcome.code == 0, outcome.err
    saved = json.loads((out / "config.json").read_text())["config"]["nerf"]
    assert saved["encoding"] == "hash-grid"
    assert saved["hash_grid"] == {**to_dict(HashGridConfig()), "log2_table_size": 14, "finest_resolution": 512}
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 2 and all(math.isfinite(r["loss"]) for r in log)
    run = load_stage1(out)
    assert isinstance(run.field.encoding, HashGridEncoding) and run.step == 2
    assert run.field.encoding.tables[-1].shape == (2**14, 2)



def test_a_run_folder_from_before_the_hash_grid_still_loads(tmp_path, cli):
    """Its config.json has no nerf.hash_grid key: the settings take their defaults and the dense grids load."""
    from dreamlift.training.run_folder import load_stage1

    out = tmp_path / "run"
    assert cli("text", "a red cube", "--steps", "2", "--no-export", "--quiet", "--refine", "off", "--out", str(out)).code == 0
    record = json.loads((out / "config.json").read_text())
    assert record["config"]["nerf"]["encoding"] == "grid"  # the default is unchanged
    del record["config"]["nerf"]["hash_grid"]
    (out / "config.json").write_text(json.dumps(record))
    run = load_stage1(out)
    assert type(run.field.encoding).__name__ == "DenseGridEncoding" and run.step == 2
    with torch.no_grad():
        assert run.field.density(torch.zeros(1, 3)).item() > 5.0  # the trained blob, read back


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_encoding_on_cuda_matches_the_cpu():
    torch.manual_seed(0)
    encoding = HashGridEncoding(SMALL)
    points = torch.rand(2000, 3) * 2 - 1
    cpu = encoding(points)
    cpu.square().sum().backward()
    cpu_grads = [t.grad.clone() for t in encoding.tables]
    gpu_encoding = encoding.cuda()
    for t in gpu_encoding.tables:
        t.grad = None
    gpu = gpu_encoding(points.cuda())
    gpu.square().sum().backward()
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-6, rtol=1e-5)
    for a, b in zip(gpu_encoding.tables, cpu_grads):
        torch.testing.assert_close(a.grad.cpu(), b, atol=1e-5, rtol=1e-4)
