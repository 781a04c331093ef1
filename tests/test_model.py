"""Exact tests for `model/`: parameter count and names, checkpoint loading, shapes, config validation.

Every expected number is written with its arithmetic beside it (symbols of docs/architecture.md). Shapes at full
size are checked without real memory, under `torch.device("meta")` or `FakeTensorMode`; real forward
passes run on CPU at 48x96 only, so the file runs in a few seconds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch._subclasses.fake_tensor import FakeTensorMode

from model.config import DSTTConfig
from model.dstt import CheckpointError, InpaintGenerator, load_checkpoint

# The released state_dict layout. shared/ sits beside the repository (locally and in CI); the copy under
# tests/data keeps the suite self-contained where it does not.
_SHARED_REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "dstt_state_dict.json"
_LOCAL_REFERENCE = Path(__file__).resolve().parent / "data" / "dstt_state_dict.json"

# A small valid size for real CPU forwards: H/4 = 12 -> h' = (12 + 2*3 - 7)//3 + 1 = 4;
# W/4 = 24 -> w' = (24 + 2*3 - 7)//3 + 1 = 8; both divisible by s = 2; n = 4*8 = 32.
SMALL = DSTTConfig(height=48, width=96)
# A tiny network for checkpoint files (a few hundred KB instead of 138 MB): same structure, fewer channels.
TINY = DSTTConfig(height=48, width=96, channel=32, hidden=64, blocks=2)


def reference_state_dict() -> list[dict[str, Any]]:
    path = _SHARED_REFERENCE if _SHARED_REFERENCE.is_file() else _LOCAL_REFERENCE
    entries: list[dict[str, Any]] = json.loads(path.read_text())["state_dict"]
    return entries


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def meta_model(config: DSTTConfig | None = None) -> InpaintGenerator:
    with torch.device("meta"):
        return InpaintGenerator(config).eval()


def frames(t: int, cfg: DSTTConfig, device: str | torch.device = "meta") -> Tensor:
    return torch.empty(1, t, 3, cfg.height, cfg.width, device=device)  # (b, t, 3, H, W)


@contextmanager
def capture_outputs(model: nn.Module, *names: str) -> Iterator[dict[str, Any]]:
    """Forward outputs of the named submodules, collected by hooks that are always removed."""
    seen: dict[str, Any] = {}
    modules = dict(model.named_modules())
    handles = [
        modules[name].register_forward_hook(lambda _m, _i, out, name=name: seen.__setitem__(name, out))
        for name in names
    ]
    try:
        yield seen
    finally:
        for handle in handles:
            handle.remove()


@pytest.fixture(scope="module")
def default_meta() -> InpaintGenerator:
    return meta_model()


# --- parameters and names ------------------------------------------------------------------------------


def test_parameter_count(default_meta: InpaintGenerator) -> None:
    # 34,529,155 parameters, built up from the stages:
    # block: 4 Linear d->d 4*(512*512 + 512) = 1,050,624; ffn.conv.0 512*2048 + 2048 = 1,050,624;
    #        ffn.conv.3 2048*512 + 512 = 1,049,088; norm1, norm2 2*(512 + 512) = 2,048 -> 3,152,384
    assert n_params(default_meta.transformer[0]) == 3_152_384
    assert n_params(default_meta.transformer) == 25_219_072  # 8 * 3,152,384
    assert n_params(default_meta.patch2vec) == 3_211_776  # 128*512*7*7 + 512
    assert n_params(default_meta.vec2patch) == 3_217_536  # 512*6272 + 6272, 6272 = 128*7*7
    # 3*64*9+64 + 64*64*9+64 + 64*128*9+128 + 128*256*9+256 = 1,792 + 36,928 + 73,856 + 295,168
    assert n_params(default_meta.encoder) == 407_744
    # groups [1,2,4,8,1]: 256*256*9+256 + 256*256*9+256 + 256*128*9+256 + 256*64*9+256 + 128*512*9+128
    #                   = 590,080 + 590,080 + 295,168 + 147,712 + 589,952
    assert n_params(default_meta.hier_enc) == 2_212_992
    # 128*128*9+128 + 64*128*9+64 + 64*64*9+64 + 3*64*9+3 = 147,584 + 73,792 + 36,928 + 1,731
    assert n_params(default_meta.decoder) == 260_035
    # 25,219,072 + 3,211,776 + 3,217,536 + 407,744 + 2,212,992 + 260,035 = 34,529,155
    assert n_params(default_meta) == 34_529_155


def test_state_dict_matches_release(default_meta: InpaintGenerator) -> None:
    reference = reference_state_dict()
    ours = [(key, list(value.shape), str(value.dtype)) for key, value in default_meta.state_dict().items()]
    expected = [(e["key"], e["shape"], e["dtype"]) for e in reference]
    assert [k for k, _, _ in ours] == [k for k, _, _ in expected]  # same names, same order
    assert ours == expected  # and the same shapes and dtypes
    # 8 blocks * 16 + patch2vec 2 + vec2patch 2 + encoder 8 + hier_enc 10 + decoder 8 = 128 + 30 = 158
    assert len(ours) == 158


def test_reference_copy_is_current() -> None:
    if not _SHARED_REFERENCE.is_file():
        pytest.skip("shared/reference is not beside this checkout")
    assert json.loads(_LOCAL_REFERENCE.read_text()) == json.loads(_SHARED_REFERENCE.read_text())


def test_reference_total() -> None:
    reference = reference_state_dict()
    total = 0
    for entry in reference:
        size = 1
        for side in entry["shape"]:
            size *= side
        total += size
    assert total == 34_529_155


def test_parameters_do_not_depend_on_resolution() -> None:
    # Fold has no parameters and every other layer is sized by channels, not by H, W.
    assert n_params(meta_model(DSTTConfig(height=480, width=864))) == 34_529_155


# --- checkpoints ---------------------------------------------------------------------------------------


def tiny_state_dict() -> dict[str, Tensor]:
    torch.manual_seed(0)
    return InpaintGenerator(TINY).state_dict()


def assert_same_weights(model: nn.Module, state: dict[str, Tensor]) -> None:
    loaded = model.state_dict()
    assert list(loaded) == list(state)
    assert all(torch.equal(loaded[k], state[k]) for k in state)


def test_load_released_layout_under_netG(tmp_path: Path) -> None:
    # The released file: {'netG': state_dict, ...} at the default size (138 MB at fp32).
    torch.manual_seed(0)
    state = InpaintGenerator().state_dict()
    path = tmp_path / "gen.pth"
    torch.save({"netG": state}, path)
    model = load_checkpoint(path)
    assert not model.training
    assert_same_weights(model, state)


def test_load_bare_state_dict(tmp_path: Path) -> None:
    state = tiny_state_dict()
    path = tmp_path / "bare.pth"
    torch.save(state, path)
    assert_same_weights(load_checkpoint(path, TINY), state)


def test_load_strips_data_parallel_prefix(tmp_path: Path) -> None:
    state = tiny_state_dict()
    path = tmp_path / "dp.pth"
    torch.save({"netG": {f"module.{k}": v for k, v in state.items()}}, path)
    assert_same_weights(load_checkpoint(path, TINY), state)


def test_checkpoint_missing_key(tmp_path: Path) -> None:
    state = tiny_state_dict()
    del state["transformer.1.norm2.bias"]
    path = tmp_path / "missing.pth"
    torch.save({"netG": state}, path)
    with pytest.raises(CheckpointError, match=r"missing keys: transformer\.1\.norm2\.bias$"):
        load_checkpoint(path, TINY)


def test_checkpoint_extra_key(tmp_path: Path) -> None:
    state = tiny_state_dict()
    state["vec2patch.relu.weight"] = torch.zeros(1)
    path = tmp_path / "extra.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"unexpected keys: vec2patch\.relu\.weight$"):
        load_checkpoint(path, TINY)


def test_checkpoint_wrong_shape(tmp_path: Path) -> None:
    state = tiny_state_dict()
    state["patch2vec.weight"] = torch.zeros(64, 16, 5, 5)  # TINY wants (d, c/2, 7, 7) = (64, 16, 7, 7)
    path = tmp_path / "shape.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, TINY)
    assert "shape mismatch for patch2vec.weight (64, 16, 5, 5) != (64, 16, 7, 7)" in str(info.value)


def test_checkpoint_for_another_config(tmp_path: Path) -> None:
    # A TINY file loaded for the default config: blocks 2..7 are missing, and the message lists them.
    path = tmp_path / "tiny.pth"
    torch.save(tiny_state_dict(), path)
    with pytest.raises(CheckpointError, match=r"missing keys: transformer\.2\.attention"):
        load_checkpoint(path)  # TINY has 2 blocks, the default 8


def test_not_a_checkpoint(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint\n")
    with pytest.raises(CheckpointError, match=r"notes\.txt: not a PyTorch checkpoint"):
        load_checkpoint(text, TINY)
    other = tmp_path / "other.pth"
    torch.save({"epoch": 3}, other)
    with pytest.raises(CheckpointError, match=r"other\.pth: holds no generator state_dict"):
        load_checkpoint(other, TINY)
    with pytest.raises(CheckpointError, match=r"absent\.pth: no such file"):
        load_checkpoint(tmp_path / "absent.pth", TINY)


# --- shapes --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("t", [1, 2, 5])
def test_output_shape_default(default_meta: InpaintGenerator, t: int) -> None:
    out = default_meta(frames(t, default_meta.config))
    assert out.device.type == "meta"
    assert tuple(out.shape) == (t, 3, 240, 432)  # (b*t, 3, H, W), b = 1


def test_stage_shapes_default(default_meta: InpaintGenerator) -> None:
    # docs/architecture.md's table at t = 14, 240x432.
    names = [
        "encoder",
        "hier_enc",
        "patch2vec",
        "transformer.0.ffn.conv.0",
        "vec2patch.embedding",
        "vec2patch",
    ]
    with capture_outputs(default_meta, *names) as seen:
        default_meta(frames(14, default_meta.config))
    assert tuple(seen["encoder"].shape) == (14, 256, 60, 108)  # (bt, c, H/4, W/4)
    assert tuple(seen["hier_enc"].shape) == (14, 128, 60, 108)  # (bt, c/2, H/4, W/4)
    assert tuple(seen["patch2vec"].shape) == (14, 512, 20, 36)  # HE output: (bt, d, h', w'), 720 tokens
    assert tuple(seen["transformer.0.ffn.conv.0"].shape) == (14, 720, 2048)  # (bt, n, 4d)
    assert tuple(seen["vec2patch.embedding"].shape) == (14, 720, 6272)  # (bt, n, c'*7*7), 128*49 = 6272
    assert tuple(seen["vec2patch"].shape) == (14, 128, 60, 108)  # Fold: (bt, c', H/4, W/4)


def test_small_forward_on_cpu() -> None:
    torch.manual_seed(0)
    model = InpaintGenerator(SMALL).eval()
    assert SMALL.token_grid == (4, 8)  # (12 - 1)//3 + 1 = 4, (24 - 1)//3 + 1 = 8
    x = torch.rand(1, 2, 3, 48, 96) * 2 - 1
    with torch.no_grad():
        out = model(x)
    assert tuple(out.shape) == (2, 3, 48, 96)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert out.abs().max().item() < 1.0  # tanh


def test_large_resolution_grid() -> None:
    cfg = DSTTConfig(height=480, width=864)
    # H/4 = 120 -> h' = (120 - 1)//3 + 1 = 40; W/4 = 216 -> w' = (216 - 1)//3 + 1 = 72
    assert cfg.feature_size == (120, 216)
    assert cfg.token_grid == (40, 72)
    assert cfg.tokens == 2880  # 40 * 72
    model = meta_model(cfg)
    with capture_outputs(model, "patch2vec", "transformer.0.attention.attention") as seen:
        out = model(frames(2, cfg))
    assert tuple(out.shape) == (2, 3, 480, 864)
    assert tuple(seen["patch2vec"].shape) == (2, 512, 40, 72)
    # temporal groups: t*n/s^2 = 2*2880/4 = 1440 tokens each
    assert tuple(seen["transformer.0.attention.attention"][1].shape) == (1, 4, 4, 1440, 1440)


def test_heads_and_zones_variant() -> None:
    # 240x432 gives h' x w' = 20 x 36; both divide by s = 4 (5 x 9 tokens per zone).
    cfg = DSTTConfig(heads=8, zones=4)
    assert cfg.head_dim == 64  # 512 / 8
    model = meta_model(cfg)
    assert n_params(model) == 34_529_155  # heads and zones only regroup channels and tokens
    names = ("transformer.0.attention.attention", "transformer.1.attention.attention")
    with capture_outputs(model, *names) as seen:
        out = model(frames(4, cfg))
    assert tuple(out.shape) == (4, 3, 240, 432)
    temporal_out, temporal_attn = seen[names[0]]
    # (b, s^2, k, t*n/s^2, t*n/s^2): t*n/s^2 = 4*720/16 = 180
    assert tuple(temporal_attn.shape) == (1, 16, 8, 180, 180)
    assert tuple(temporal_out.shape) == (1, 16, 8, 180, 64)  # (..., d/k)
    spatial_out, spatial_attn = seen[names[1]]
    assert tuple(spatial_attn.shape) == (1, 4, 8, 720, 720)  # (b, t, k, n, n)
    assert tuple(spatial_out.shape) == (1, 4, 8, 720, 64)


def test_matmul_and_sdpa_agree() -> None:
    torch.manual_seed(0)
    matmul = InpaintGenerator(SMALL).eval()
    sdpa = InpaintGenerator(SMALL.replace(attention="sdpa")).eval()
    sdpa.load_state_dict(matmul.state_dict())
    x = torch.rand(1, 3, 3, 48, 96) * 2 - 1  # t = 3: temporal groups of 3*32/4 = 24 tokens
    with torch.no_grad():
        with capture_outputs(matmul, "transformer") as a:
            out_a = matmul(x)
        with capture_outputs(sdpa, "transformer") as b:
            out_b = sdpa(x)
    # The tokens leaving the transformer (std about 1) and the final frames both agree.
    assert (a["transformer"] - b["transformer"]).abs().max().item() < 1e-5
    assert (out_a - out_b).abs().max().item() < 1e-5


# --- configuration -------------------------------------------------------------------------------------


def test_invalid_height_not_divisible_by_4() -> None:
    # 240 is valid; 244, 248, 252 give h' = 21 (odd); 256 gives h' = (64 - 1)//3 + 1 = 22
    with pytest.raises(ValueError) as info:
        DSTTConfig(height=241)
    assert str(info.value) == "height 241 is not divisible by 4; nearest valid: 240, 256"


def test_invalid_width_not_divisible_by_4() -> None:
    # 428: w' = (107 - 1)//3 + 1 = 36; 432: w' = (108 - 1)//3 + 1 = 36
    with pytest.raises(ValueError) as info:
        DSTTConfig(width=430)
    assert str(info.value) == "width 430 is not divisible by 4; nearest valid: 428, 432"


def test_invalid_heads() -> None:
    with pytest.raises(ValueError, match="heads 3 must divide hidden 512") as info:
        DSTTConfig(heads=3)
    assert str(info.value).endswith("nearest valid: 2, 4")


def test_invalid_zones_tiling() -> None:
    # 244/4 = 61 -> h' = (61 - 1)//3 + 1 = 21, odd, so 2 zones per side do not tile it
    with pytest.raises(ValueError) as info:
        DSTTConfig(height=244)
    message = str(info.value)
    assert "height 244 gives 21 tokens" in message
    assert "not a multiple of zones=2" in message
    assert message.endswith("nearest valid: 240, 256")


def test_invalid_attention_backend() -> None:
    with pytest.raises(ValueError) as info:
        DSTTConfig(attention="flash")
    assert str(info.value) == "attention must be one of matmul, sdpa, got 'flash'"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"height": 0}, "height must be positive, got 0"),
        ({"zones": 3}, "height 240 gives 20 tokens"),
        ({"dropout": 1.0}, "dropout must be in [0, 1), got 1.0"),
    ],
)
def test_other_invalid_configs(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        DSTTConfig(**changes)
    assert str(info.value).startswith(message)


# --- abstract execution and the attention matrix -------------------------------------------------------


def test_meta_at_64_frames(default_meta: InpaintGenerator) -> None:
    out = default_meta(frames(64, default_meta.config))
    assert tuple(out.shape) == (64, 3, 240, 432)


def test_fake_tensor_mode_at_64_frames() -> None:
    with FakeTensorMode():
        model = InpaintGenerator(init_weights=False).eval()
        out = model(torch.empty(1, 64, 3, 240, 432))
    assert tuple(out.shape) == (64, 3, 240, 432)
    assert out.device.type == "cpu"  # fake tensors keep the real device type


def test_attention_matrix_visible_to_hook(default_meta: InpaintGenerator) -> None:
    names = ("transformer.0.attention.attention", "transformer.1.attention.attention")
    with capture_outputs(default_meta, *names) as seen:
        default_meta(frames(14, default_meta.config))
    # temporal: (b, s^2, k, t*n/s^2, t*n/s^2), t*n/s^2 = 14*720/4 = 2520
    assert tuple(seen[names[0]][1].shape) == (1, 4, 4, 2520, 2520)
    # spatial: (b, t, k, n, n)
    assert tuple(seen[names[1]][1].shape) == (1, 14, 4, 720, 720)


def test_attention_matrix_under_fake_tensor_mode() -> None:
    name = "transformer.0.attention.attention"
    with FakeTensorMode():
        model = InpaintGenerator(init_weights=False).eval()
        with capture_outputs(model, name) as seen:
            model(torch.empty(1, 14, 3, 240, 432))
    assert tuple(seen[name][1].shape) == (1, 4, 4, 2520, 2520)
    # 4*4*2520*2520 = 101,606,400 elements = 406,425,600 bytes at fp32 (docs/architecture.md: 406 MB)
    assert seen[name][1].numel() * seen[name][1].element_size() == 406_425_600


def test_sdpa_builds_no_attention_matrix() -> None:
    model = meta_model(DSTTConfig(attention="sdpa"))
    names = ("transformer.0.attention.attention", "transformer.1.attention.attention")
    with capture_outputs(model, *names) as seen:
        out = model(frames(14, model.config))
    assert tuple(out.shape) == (14, 3, 240, 432)
    for name in names:
        attended, matrix = seen[name]
        assert matrix is None
        assert attended.shape[-1] == 128  # d/k
