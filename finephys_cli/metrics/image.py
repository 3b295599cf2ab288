"""Image agreement between two renderings of the same frames."""

from __future__ import annotations

import numpy as np


def psnr_uint8(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two arrays of 8-bit pixel values (any equal shapes). A floor on the MSE
    keeps identical arrays finite (168 dB), so results stay valid JSON."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return 10 * np.log10(255 ** 2 / max(mse, 1e-12))
