"""Test helper: the Clay v0 golden set (tensors exported from the original PyTorch model) as numpy arrays."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

_REPO = Path(__file__).resolve().parents[3]


def golden_dir() -> Path:
    """`CLAY_GOLDEN_DIR`, else the copy in the repository, else `../shared` beside it; missing: an error."""
    env = os.environ.get("CLAY_GOLDEN_DIR")
    candidates = [Path(env)] if env else []
    candidates += [_REPO / "test" / "golden" / "clay-tiny-64", _REPO.parent / "shared" / "golden" / "clay-tiny-64"]
    for c in candidates:
        if (c / "manifest.json").exists():
            return c
    raise FileNotFoundError(f"golden set not found in {', '.join(map(str, candidates))}")


class Golden:
    """The manifest and its tensors (float32, C order)."""

    def __init__(self, folder: Path | None = None) -> None:
        d = folder or golden_dir()
        self.manifest = json.loads((d / "manifest.json").read_text())
        self._blob = (d / "golden.bin").read_bytes()
        self._entries = {t["name"]: t for t in self.manifest["tensors"]}

    def get(self, name: str) -> np.ndarray:
        e = self._entries[name]
        a = np.frombuffer(self._blob, dtype="<f4", count=e["length"], offset=e["offset"])
        return a.reshape(e["shape"]).copy()

    def names(self, prefix: str) -> list[str]:
        return [n[len(prefix):] for n in self._entries if n.startswith(prefix)]
