"""DSTT, the Decoupled Spatial-Temporal Transformer for video inpainting (symbols: docs/architecture.md):
the released generator's module names, parameter shapes and op order, so its checkpoint loads strictly;
what the release fixes in code (240x432 frames, 2x2 zones, 4 heads) is a `DSTTConfig` field."""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from model.config import HIER_GROUPS, DSTTConfig

__all__ = ["Attention", "CheckpointError", "DSTTConfig", "FeedForward", "HierarchyEncoder", "InpaintGenerator",
           "MultiHeadedAttention", "TransformerBlock", "TransformerStack", "UpsampleConv", "Vec2Patch", "load_checkpoint"]


def _conv(cin: int, cout: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, groups=groups)


def _lrelu() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.2, inplace=True)


class HierarchyEncoder(nn.Module):
    """Five 3x3 convs; before each but the first, the encoder output and the running output are
    interleaved group by group (`HIER_GROUPS`) along channels."""

    def __init__(self, channel: int) -> None:
        super().__init__()
        self.groups = HIER_GROUPS
        outs = [channel, channel, channel, channel, channel // 2]
        self.layers = nn.ModuleList(layer for i, (groups, out) in enumerate(zip(HIER_GROUPS, outs))
                                    for layer in (_conv(channel if i == 0 else 2 * channel, out, groups=groups), _lrelu()))

    def forward(self, x: Tensor) -> Tensor:
        bt, _, h, w = x.shape
        out = x
        for i, layer in enumerate(self.layers):
            if i % 2 == 0 and i != 0:
                g = self.groups[i // 2]
                x0 = x.view(bt, g, -1, h, w)  # (bt, g, c/g, h, w)
                out0 = out.view(bt, g, -1, h, w)  # (bt, g, c/g, h, w)
                out = torch.cat([x0, out0], 2).view(bt, -1, h, w)  # (bt, 2c, h, w), groups interleaved
            out = layer(out)
        return out


class UpsampleConv(nn.Module):
    """Bilinear x2 upsampling (align_corners=True), then a 3x3 conv: the release's `deconv`."""

    def __init__(self, cin: int, cout: int, scale: int = 2) -> None:
        super().__init__()
        self.conv = _conv(cin, cout)
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        x = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=True)
        return self.conv(x)  # type: ignore[no-any-return]


class Attention(nn.Module):
    """Attention over the last two axes -> `(output, matrix)`: `"matmul"` materialises the matrix (as
    released), so a forward hook sees it; `"sdpa"` calls the fused kernel, which never builds it (None)."""

    def __init__(self, p: float, backend: str) -> None:
        super().__init__()
        self.dropout = nn.Dropout(p=p)
        self.backend = backend

    def forward(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor | None]:
        if self.backend == "sdpa":
            # The fused kernels take (batch, heads, m, d/k): fold the leading axes into one (views).
            lead = query.shape[:-3]
            q, k, v = (x.flatten(0, -4) if x.dim() > 4 else x for x in (query, key, value))
            p = self.dropout.p if self.training else 0.0
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=p)  # (prod(lead), k, m, d/k)
            return out.view(*lead, *out.shape[1:]), None
        scores = torch.matmul(query, key.transpose(-2, -1)) / math.sqrt(query.size(-1))  # (..., m, m)
        p_attn = F.softmax(scores, dim=-1)
        p_attn = self.dropout(p_attn)
        return torch.matmul(p_attn, value), p_attn  # (..., m, d/k), (..., m, m)


class MultiHeadedAttention(nn.Module):
    """Multi-head attention, spatial (within a frame) or temporal (within a zone, across frames)."""

    def __init__(self, cfg: DSTTConfig, temporal: bool) -> None:
        super().__init__()
        d = cfg.hidden
        # Registration order is the release's (state_dict order): query, value, key, output.
        self.query_embedding, self.value_embedding, self.key_embedding, self.output_linear = (nn.Linear(d, d) for _ in "qvko")
        self.attention = Attention(cfg.dropout, cfg.attention)
        self.temporal = temporal
        self.heads, self.zones, self.grid = cfg.heads, cfg.zones, cfg.token_grid

    def _spatial(self, x: Tensor, b: int, t: int) -> Tensor:
        _, n, d = x.shape
        k = self.heads
        return x.view(b, t, n, k, d // k).permute(0, 1, 3, 2, 4)  # (b, t, k, n, d/k)

    def _zoned(self, x: Tensor, b: int, t: int) -> Tensor:
        _, _, d = x.shape
        (hp, wp), s, k = self.grid, self.zones, self.heads
        x = x.view(b, t, s, hp // s, s, wp // s, k, d // k)  # (b, t, s, h'/s, s, w'/s, k, d/k)
        x = x.permute(0, 2, 4, 6, 1, 3, 5, 7)  # (b, s, s, k, t, h'/s, w'/s, d/k)
        return x.contiguous().view(b, s * s, k, -1, d // k)  # (b, s^2, k, t*n/s^2, d/k)

    def _unzoned(self, att: Tensor, b: int, t: int) -> Tensor:
        _, _, _, _, dk = att.shape
        (hp, wp), s, k = self.grid, self.zones, self.heads
        att = att.view(b, s, s, k, t, hp // s, wp // s, dk)  # (b, s, s, k, t, h'/s, w'/s, d/k)
        att = att.permute(0, 4, 1, 5, 2, 6, 3, 7)  # (b, t, s, h'/s, s, w'/s, k, d/k)
        return att.contiguous().view(b * t, hp * wp, k * dk)  # (bt, n, d)

    def forward(self, x: Tensor, t: int) -> Tensor:
        bt, n, d = x.shape
        b = bt // t
        key = self.key_embedding(x)  # (bt, n, d)
        query = self.query_embedding(x)  # (bt, n, d)
        value = self.value_embedding(x)  # (bt, n, d)
        if self.temporal:
            key = self._zoned(key, b, t)
            query = self._zoned(query, b, t)
            value = self._zoned(value, b, t)
            att, _ = self.attention(query, key, value)  # (b, s^2, k, t*n/s^2, d/k)
            att = self._unzoned(att, b, t)  # (bt, n, d)
        else:
            key = self._spatial(key, b, t)
            query = self._spatial(query, b, t)
            value = self._spatial(value, b, t)
            att, _ = self.attention(query, key, value)  # (b, t, k, n, d/k)
            att = att.permute(0, 1, 3, 2, 4).contiguous().view(bt, n, d)  # (bt, n, d)
        return self.output_linear(att)  # type: ignore[no-any-return]


class FeedForward(nn.Module):
    """Linear d->4d, ReLU, Dropout, Linear 4d->d, Dropout (`ffn.conv.0` .. `ffn.conv.4`)."""

    def __init__(self, d: int, p: float) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Linear(d, 4 * d), nn.ReLU(inplace=True), nn.Dropout(p=p), nn.Linear(4 * d, d),
                                  nn.Dropout(p=p))

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)  # type: ignore[no-any-return]


class TransformerBlock(nn.Module):
    """One block. The residual is taken from the *normalised* x (the release's pre-norm quirk)."""

    def __init__(self, cfg: DSTTConfig, temporal: bool) -> None:
        super().__init__()
        self.attention = MultiHeadedAttention(cfg, temporal)
        self.ffn = FeedForward(cfg.hidden, cfg.dropout)
        self.norm1 = nn.LayerNorm(cfg.hidden)
        self.norm2 = nn.LayerNorm(cfg.hidden)
        self.dropout = nn.Dropout(p=cfg.dropout)

    def forward(self, x: Tensor, t: int) -> Tensor:
        x = self.norm1(x)
        x = x + self.dropout(self.attention(x, t))
        y = self.norm2(x)
        return x + self.ffn(y)  # type: ignore[no-any-return]


class TransformerStack(nn.Sequential):
    """The blocks in order; each gets the clip length t beside the tokens."""

    def forward(self, x: Tensor, t: int) -> Tensor:  # type: ignore[override]
        for block in self:
            x = block(x, t)
        return x


class Vec2Patch(nn.Module):
    """Linear d -> c'*p*p per token, then Fold the patches back onto the (H/4, W/4) grid."""

    def __init__(self, cfg: DSTTConfig) -> None:
        super().__init__()
        p = cfg.kernel
        self.relu = nn.LeakyReLU(0.2, inplace=True)  # held but unused, as released (no parameters)
        self.embedding = nn.Linear(cfg.hidden, cfg.fold_channels * p * p)
        self.to_patch = nn.Fold(output_size=cfg.feature_size, kernel_size=p, stride=cfg.stride, padding=cfg.padding)

    def forward(self, x: Tensor) -> Tensor:
        feat = self.embedding(x)  # (bt, n, c'*p*p)
        feat = feat.permute(0, 2, 1)  # (bt, c'*p*p, n)
        return self.to_patch(feat)  # type: ignore[no-any-return]  # (bt, c', H/4, W/4)


class InpaintGenerator(nn.Module):
    """The DSTT generator: (b, t, 3, H, W) masked frames -> (b*t, 3, H, W) after tanh."""

    def __init__(self, config: DSTTConfig | None = None, init_weights: bool = True) -> None:
        super().__init__()
        cfg = config if config is not None else DSTTConfig()
        self.config = cfg
        c, d, p = cfg.channel, cfg.hidden, cfg.kernel
        # Registration order is the release's, so state_dict keys come in the same order.
        self.transformer = TransformerStack(*(TransformerBlock(cfg, temporal=cfg.block_kind(i) == "temporal")
                                              for i in range(cfg.blocks)))
        self.patch2vec = nn.Conv2d(c // 2, d, kernel_size=p, stride=cfg.stride, padding=cfg.padding)
        self.vec2patch = Vec2Patch(cfg)
        self.encoder = nn.Sequential(_conv(3, 64, 2), _lrelu(), _conv(64, 64), _lrelu(), _conv(64, 128, 2), _lrelu(),
                                     _conv(128, c), _lrelu())
        self.hier_enc = HierarchyEncoder(c)
        self.decoder = nn.Sequential(UpsampleConv(c // 2, 128), _lrelu(), _conv(128, 64), _lrelu(), UpsampleConv(64, 64),
                                     _lrelu(), _conv(64, 3))
        self.output = nn.Tanh()
        if init_weights:
            self.init_weights()

    def init_weights(self, gain: float = 0.02) -> None:
        """Conv and Linear weights ~ N(0, gain), biases 0; LayerNorm stays (1, 0). The release's scheme."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(module.weight, 0.0, gain)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, masked_frames: Tensor) -> Tensor:
        b, t, c, h, w = masked_frames.shape
        enc = self.encoder(masked_frames.view(b * t, c, h, w))  # (bt, c, H/4, W/4)
        enc = self.hier_enc(enc)  # (bt, c/2, H/4, W/4)
        tokens = self.patch2vec(enc)  # (bt, d, h', w')
        _, d, hp, wp = tokens.shape
        tokens = tokens.view(b * t, d, hp * wp).permute(0, 2, 1)  # (bt, n, d)
        tokens = self.transformer(tokens, t)  # (bt, n, d)
        # Which local holds a tensor decides when it is freed. As released, rebinding `tokens` drops the
        # transformer's tokens before the skip add and keeps the Fold output (on CPU the size of Fold's
        # input: 18,063,360 B per frame at 240x432) through the decoder; `enc = enc + self.vec2patch(tokens)`
        # would give the same values, another peak.
        tokens = self.vec2patch(tokens)  # (bt, c', H/4, W/4)
        enc = enc + tokens  # (bt, c', H/4, W/4)
        return self.output(self.decoder(enc))  # type: ignore[no-any-return]  # (bt, 3, H, W)


class CheckpointError(ValueError):
    """A file that is not a DSTT generator checkpoint for the given config."""


def _summarise(names: list[str], most: int = 6) -> str:
    shown = ", ".join(names[:most])
    return shown + (f", ... ({len(names)} in all)" if len(names) > most else "")


def load_checkpoint(path: str | Path, config: DSTTConfig | None = None) -> InpaintGenerator:
    """A generator for `config` with a released checkpoint (weights under 'netG') or a bare state_dict loaded
    strictly; `CheckpointError` naming the keys for a file that does not match."""
    path = Path(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except Exception as exc:  # torch.load raises many kinds for a file that is not a checkpoint
        raise CheckpointError(f"{path}: not a PyTorch checkpoint ({type(exc).__name__})") from None
    if isinstance(obj, dict) and "netG" in obj:
        obj = obj["netG"]
    if not (isinstance(obj, dict) and obj and all(isinstance(v, Tensor) for v in obj.values())):
        raise CheckpointError(f"{path}: holds no generator state_dict (expected tensors, or a dict with 'netG')")
    state = {str(k).removeprefix("module."): v for k, v in obj.items()}
    model = InpaintGenerator(config, init_weights=False)
    expected = model.state_dict()
    keys = (("missing", [k for k in expected if k not in state]), ("unexpected", [k for k in state if k not in expected]))
    if any(names for _, names in keys):
        raise CheckpointError(f"{path}: " + "; ".join(f"{what} keys: {_summarise(names)}" for what, names in keys if names))
    wrong = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
             if tuple(state[k].shape) != tuple(v.shape)]
    if wrong:
        raise CheckpointError(f"{path}: shape mismatch for {_summarise(wrong)}")
    model.load_state_dict(state, strict=True)
    return model.eval()
