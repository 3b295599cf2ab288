"""The Fréchet distance between feature sets (FVD, FID), in float64, via the symmetric
eigenvalue form: Tr √(Σ₁^½ Σ₂ Σ₁^½) from `eigh`, eigenvalues clipped at 0. It agrees with
scipy's `sqrtm` form to ~1e-5 relative and stays Hermitian (no complex parts, no
deprecated `disp`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class FeatureStats:
    mean: np.ndarray     # (D,)
    cov: np.ndarray      # (D, D), unbiased (1/(N-1)), as tf-gan FVD and np.cov
    n: int

    @classmethod
    def from_features(cls, features: np.ndarray) -> "FeatureStats":
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or len(x) < 2:
            raise ValueError(f"need (N>=2, D) features, got shape {x.shape}")
        return cls(x.mean(0), np.cov(x, rowvar=False), len(x))


def _sqrt_psd(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(a: FeatureStats, b: FeatureStats) -> float:
    """‖μ₁−μ₂‖² + Tr Σ₁ + Tr Σ₂ − 2 Tr √(Σ₁^½ Σ₂ Σ₁^½)."""
    root = _sqrt_psd(a.cov)
    inner = root @ b.cov @ root
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0, None)).sum()
    diff = a.mean - b.mean
    return float(diff @ diff + np.trace(a.cov) + np.trace(b.cov) - 2.0 * tr_sqrt)
