"""Model configurations: Clay v0's sizes (`clay_tiny` .. `clay_large`), its band groups, derived sizes.
Mirrors `model/config.ts`; the JSON form is the one `checkpoint.json` stores (camelCase keys)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

#: Clay v0's band groups in its dict order (fixes G and every group-major layout).
BAND_GROUPS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("rgb", (2, 1, 0)),
    ("rededge", (3, 4, 5, 7)),
    ("nir", (6,)),
    ("swir", (8, 9)),
    ("sar", (10, 11)),
    ("dem", (12,)),
)
NUM_BANDS = 13


@dataclass(frozen=True)
class ClayConfig:
    """Full configuration of a Clay v0 masked autoencoder (dropout is 0 in every v0 size)."""

    image_size: int
    patch_size: int
    mask_ratio: float
    dim: int
    depth: int
    heads: int
    dim_head: int
    mlp_ratio: int
    decoder_dim: int
    decoder_depth: int
    decoder_heads: int
    decoder_dim_head: int
    decoder_mlp_ratio: int

    @property
    def side(self) -> int:
        return self.image_size // self.patch_size

    @property
    def num_spatial(self) -> int:
        return self.side * self.side

    @property
    def num_tokens(self) -> int:
        return len(BAND_GROUPS) * self.num_spatial

    @property
    def num_masked(self) -> int:
        # v0: int(mask_ratio * num_patches), a float64 product truncated.
        return int(self.mask_ratio * self.num_tokens)

    @staticmethod
    def from_json(d: Mapping[str, float]) -> "ClayConfig":
        """From the camelCase JSON of `checkpoint.json` / `model/config.ts`."""
        cfg = ClayConfig(
            image_size=int(d["imageSize"]), patch_size=int(d["patchSize"]), mask_ratio=float(d["maskRatio"]),
            dim=int(d["dim"]), depth=int(d["depth"]), heads=int(d["heads"]), dim_head=int(d["dimHead"]),
            mlp_ratio=int(d["mlpRatio"]), decoder_dim=int(d["decoderDim"]), decoder_depth=int(d["decoderDepth"]),
            decoder_heads=int(d["decoderHeads"]), decoder_dim_head=int(d["decoderDimHead"]),
            decoder_mlp_ratio=int(d["decoderMlpRatio"]),
        )
        if cfg.image_size % cfg.patch_size != 0:
            raise ValueError("Image dimensions must be divisible by the patch size.")
        return cfg

    def to_json(self) -> dict[str, float]:
        return {
            "imageSize": self.image_size, "patchSize": self.patch_size, "maskRatio": self.mask_ratio,
            "dim": self.dim, "depth": self.depth, "heads": self.heads, "dimHead": self.dim_head,
            "mlpRatio": self.mlp_ratio, "decoderDim": self.decoder_dim, "decoderDepth": self.decoder_depth,
            "decoderHeads": self.decoder_heads, "decoderDimHead": self.decoder_dim_head,
            "decoderMlpRatio": self.decoder_mlp_ratio,
        }


_SIZES: dict[str, dict[str, int]] = {
    "tiny": dict(dim=256, depth=4, heads=4, dim_head=64, mlp_ratio=2, decoder_dim=128, decoder_depth=2, decoder_heads=2, decoder_dim_head=64, decoder_mlp_ratio=2),
    "small": dict(dim=768, depth=12, heads=12, dim_head=64, mlp_ratio=4, decoder_dim=512, decoder_depth=8, decoder_heads=8, decoder_dim_head=64, decoder_mlp_ratio=4),
    "medium": dict(dim=1024, depth=24, heads=16, dim_head=64, mlp_ratio=4, decoder_dim=512, decoder_depth=8, decoder_heads=16, decoder_dim_head=64, decoder_mlp_ratio=4),
    "large": dict(dim=1280, depth=32, heads=16, dim_head=64, mlp_ratio=4, decoder_dim=512, decoder_depth=8, decoder_heads=16, decoder_dim_head=64, decoder_mlp_ratio=4),
}


def clay_config(size: str, image_size: int = 512, patch_size: int = 32, mask_ratio: float = 0.75) -> ClayConfig:
    """A named v0 size at an image/patch size (v0 defaults: 512 px, patch 32, mask ratio 0.75)."""
    return ClayConfig(image_size=image_size, patch_size=patch_size, mask_ratio=mask_ratio, **_SIZES[size])
