"""Clay v0's masked autoencoder (`CLAY` in `src/model_clay.py` at 0145e55), written here with the same
module tree, so `state_dict()` has the original's names and shapes and the project's `weights.safetensors`
loads strict into it (and into the original). Differences from v0, none of which changes a value:
- the mask comes from noise the caller passes (the TypeScript data side draws it from (seed, step), so both
  engines mask alike); v0 draws `torch.randn` inside `mask_out`;
- attention uses `scaled_dot_product_attention` where torch has it (2.0+: flash kernels on GPU), else
  vit-pytorch's softmax(q k^T * scale) v;
- the decoder scatters tokens and then adds the encodings, instead of adding to each part first (same sums).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import BAND_GROUPS, ClayConfig

_SDPA = hasattr(F, "scaled_dot_product_attention")


def _omega(n: int) -> torch.Tensor:
    omega = torch.arange(n) / (n - 1)
    return 1.0 / (10000 ** omega)


def posemb_sincos_2d(side: int, dim: int) -> torch.Tensor:
    """simple_vit's 2-D sin-cos encoding `[side*side, dim]`, float16-rounded as v0 stores it."""
    y, x = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    omega = _omega(dim // 4)
    y = y.flatten()[:, None] * omega[None, :]
    x = x.flatten()[:, None] * omega[None, :]
    return torch.cat((x.sin(), x.cos(), y.sin(), y.cos()), dim=1).half().float()


def posemb_sincos_1d(length: int, dim: int) -> torch.Tensor:
    """simple_vit's 1-D sin-cos encoding `[length, dim]`, float16-rounded."""
    omega = _omega(dim // 2)
    scaled = torch.arange(length)[:, None] * omega[None, :]
    return torch.cat((scaled.sin(), scaled.cos()), dim=1).half().float()


def token_encodings(side: int, dim: int) -> torch.Tensor:
    """`[G*L, dim]`: token g*L + l gets cat(pos[l], band[g]) (position first, as v0)."""
    pos = posemb_sincos_2d(side, dim // 2)
    band = posemb_sincos_1d(len(BAND_GROUPS), dim // 2)
    g, l = band.shape[0], pos.shape[0]
    return torch.cat((pos[None].expand(g, l, -1), band[:, None].expand(g, l, -1)), dim=-1).reshape(g * l, dim)


class Attention(nn.Module):
    """vit-pytorch 1.6's Attention: pre-norm, bias-free qkv, scale dim_head^-0.5, output Linear unless Identity."""

    def __init__(self, dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.scale = dim_head ** -0.5
        self.norm = nn.LayerNorm(dim)
        self.to_qkv = nn.Linear(dim, inner * 3, bias=False)
        project_out = not (heads == 1 and dim_head == dim)
        self.to_out: nn.Module = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(0.0)) if project_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = (t.reshape(b, n, self.heads, -1).transpose(1, 2) for t in self.to_qkv(self.norm(x)).chunk(3, dim=-1))
        if _SDPA:
            o = F.scaled_dot_product_attention(q, k, v)
        else:
            o = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * self.scale, dim=-1) @ v
        return self.to_out(o.transpose(1, 2).reshape(b, n, -1))


class FeedForward(nn.Module):
    """vit-pytorch's FeedForward: LayerNorm, Linear, exact GELU, Linear (dropouts kept for the indices)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(0.0), nn.Linear(hidden, dim), nn.Dropout(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Transformer(nn.Module):
    """vit-pytorch 1.6's Transformer: `x = attn(x) + x; x = ff(x) + x` per block, then a LayerNorm."""

    def __init__(self, dim: int, depth: int, heads: int, dim_head: int, mlp_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.layers = nn.ModuleList(nn.ModuleList([Attention(dim, heads, dim_head), FeedForward(dim, mlp_dim)]) for _ in range(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.layers:
            attn, ff = block[0], block[1]
            x = attn(x) + x
            x = ff(x) + x
        return self.norm(x)


class Patchify(nn.Module):
    """Strided Conv2d patch projection + LayerNorm of one band group."""

    def __init__(self, in_chans: int, dim: int, patch: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=patch, stride=patch)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x).flatten(2).transpose(1, 2))


class Encoder(nn.Module):
    def __init__(self, cfg: ClayConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.latlon_embedding = nn.Linear(2, cfg.dim)
        self.time_embedding = nn.Linear(3, cfg.dim)
        self.patch_embedding = nn.ModuleDict({name: Patchify(len(bands), cfg.dim, cfg.patch_size) for name, bands in BAND_GROUPS})
        self.register_buffer("encoding", token_encodings(cfg.side, cfg.dim), persistent=False)
        self.transformer = Transformer(cfg.dim, cfg.depth, cfg.heads, cfg.dim_head, cfg.dim * cfg.mlp_ratio)

    def tokens(self, cube: torch.Tensor) -> torch.Tensor:
        """Patch embeddings plus encodings `[B, G*L, D]`, every token."""
        groups = [self.patch_embedding[name](cube[:, list(bands)]) for name, bands in BAND_GROUPS]
        return torch.cat(groups, dim=1) + self.encoding

    def forward(self, cube: torch.Tensor, latlon: torch.Tensor, timestep: torch.Tensor, unmasked: torch.Tensor | None) -> torch.Tensor:
        x = self.tokens(cube)
        if unmasked is not None:
            x = torch.gather(x, 1, unmasked[:, :, None].expand(-1, -1, x.shape[-1]))
        meta = torch.stack((self.latlon_embedding(latlon), self.time_embedding(timestep)), dim=1)
        return self.transformer(torch.cat((x, meta), dim=1))


class Decoder(nn.Module):
    def __init__(self, cfg: ClayConfig) -> None:
        super().__init__()
        self.cfg = cfg
        dd = cfg.decoder_dim
        self.enc_to_dec: nn.Module = nn.Linear(cfg.dim, dd) if cfg.dim != dd else nn.Identity()
        self.mask_patch = nn.Parameter(torch.randn(dd))
        self.transformer = Transformer(dd, cfg.decoder_depth, cfg.decoder_heads, cfg.decoder_dim_head, dd * cfg.decoder_mlp_ratio)
        self.register_buffer("encoding", token_encodings(cfg.side, dd), persistent=False)
        pp = cfg.patch_size ** 2
        self.embed_to_pixels = nn.ModuleDict({name: nn.Linear(dd, pp * len(bands)) for name, bands in BAND_GROUPS})

    def forward(self, encoded: torch.Tensor, masked: torch.Tensor, unmasked: torch.Tensor) -> torch.Tensor:
        """Pixels `[B, 13, L, P*P]`, channels in GROUP order (as v0's pixelify)."""
        y = self.enc_to_dec(encoded)
        kept, meta = y[:, :-2], y[:, -2:]
        b, dd = y.shape[0], y.shape[-1]
        tokens = self.mask_patch.to(y.dtype).expand(b, self.cfg.num_tokens, dd).clone()
        tokens = tokens.scatter(1, unmasked[:, :, None].expand(-1, -1, dd), kept)
        z = self.transformer(torch.cat((tokens + self.encoding, meta), dim=1))[:, :-2]
        l, pp = self.cfg.num_spatial, self.cfg.patch_size ** 2
        z = z.reshape(b, len(BAND_GROUPS), l, dd)
        parts = []
        for i, (name, bands) in enumerate(BAND_GROUPS):
            h = self.embed_to_pixels[name](z[:, i])  # [B, L, (PP C)], band fastest
            parts.append(h.reshape(b, l, pp, len(bands)).permute(0, 3, 1, 2))
        return torch.cat(parts, dim=1)


class Mask:
    """The mask of a batch from noise `[B, G*L]`: argsort (stable: ties by index, as the TypeScript port)."""

    def __init__(self, cfg: ClayConfig, noise: torch.Tensor) -> None:
        order = torch.sort(noise, dim=-1, stable=True).indices
        self.masked = order[:, : cfg.num_masked]
        self.unmasked = order[:, cfg.num_masked:]
        matrix = torch.zeros(noise.shape, dtype=torch.float32, device=noise.device)
        self.matrix = matrix.scatter(1, self.masked, 1.0).reshape(noise.shape[0], len(BAND_GROUPS), cfg.num_spatial)


def per_pixel_loss(cfg: ClayConfig, cube: torch.Tensor, pixels: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """v0's `per_pixel_loss`: per-patch MSE, per group (indexed by BAND numbers, as v0, although the pixels are
    in group order) over masked patches, summed, divided by the masked count. Reduced in float32 or wider."""
    b, c, h, w = cube.shape
    p = cfg.patch_size
    target = cube.reshape(b, c, h // p, p, w // p, p).permute(0, 1, 2, 4, 3, 5).reshape(b, c, (h // p) * (w // p), p * p)
    per_patch = F.mse_loss(target.float(), pixels.float(), reduction="none").mean(-1)  # [B, C, L]
    total = per_patch.new_zeros(())
    count = per_patch.new_zeros(())
    for i, (_, bands) in enumerate(BAND_GROUPS):
        total = total + (per_patch[:, list(bands)].mean(1) * matrix[:, i]).sum()
        count = count + matrix[:, i].sum()
    return total / count


class ClayMAE(nn.Module):
    """Clay v0's `CLAY`: `encoder.*` and `decoder.*` parameters with the original's names and shapes."""

    def __init__(self, cfg: ClayConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)

    def forward(self, cube: torch.Tensor, latlon: torch.Tensor, timestep: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The loss of a batch under the mask that `noise` gives, and the reconstructed pixels."""
        mask = Mask(self.cfg, noise)
        encoded = self.encoder(cube, latlon, timestep, mask.unmasked)
        pixels = self.decoder(encoded, mask.masked, mask.unmasked)
        return per_pixel_loss(self.cfg, cube, pixels, mask.matrix), pixels

    def embed(self, cube: torch.Tensor, latlon: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        """v0's predict_step embedding: the mean of the encoder's patch tokens, no masking, meta tokens excluded."""
        return self.encoder(cube, latlon, timestep, None)[:, :-2].mean(1)


def flops_per_sample(cfg: ClayConfig) -> float:
    """Training FLOPs of one sample (3x the forward's matrix products), for MFU figures."""
    def stack(n: int, d: int, depth: int, heads: int, dh: int, mlp: int) -> float:
        inner = heads * dh
        per = 2 * n * d * 3 * inner + 2 * 2 * n * n * inner + 2 * n * inner * d + 2 * 2 * n * d * mlp
        return depth * per
    enc_n = cfg.num_tokens - cfg.num_masked + 2
    dec_n = cfg.num_tokens + 2
    patch = 2 * cfg.num_spatial * 13 * cfg.patch_size ** 2 * cfg.dim
    heads = 2 * cfg.num_spatial * cfg.decoder_dim * 13 * cfg.patch_size ** 2
    fwd = patch + stack(enc_n, cfg.dim, cfg.depth, cfg.heads, cfg.dim_head, cfg.dim * cfg.mlp_ratio)
    fwd += 2 * enc_n * cfg.dim * cfg.decoder_dim + stack(dec_n, cfg.decoder_dim, cfg.decoder_depth, cfg.decoder_heads, cfg.decoder_dim_head, cfg.decoder_dim * cfg.decoder_mlp_ratio) + heads
    return 3.0 * fwd
