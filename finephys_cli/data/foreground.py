"""Where the performer is in a fixed-camera clip: the pixels off the clip's static background.

The performer covers a few percent of a crop, so an unweighted reconstruction or ε loss is met
by the background; these masks weigh the performer up (`train-autoencoder` and `train-lora`
`foreground_weight`)."""

from __future__ import annotations

import numpy as np


def foreground_masks(frames: np.ndarray, threshold: int = 24) -> np.ndarray:
    """(N,F,H,W,3) uint8 clips -> (N,F,H,W) bool: pixels whose largest channel difference
    from the clip's per-pixel temporal median exceeds `threshold`."""
    masks = np.empty(frames.shape[:4], bool)
    for i, clip in enumerate(frames):
        background = np.median(clip, axis=0).astype(np.int16)
        masks[i] = np.abs(clip.astype(np.int16) - background).max(-1) > threshold
    return masks


def latent_masks(masks: np.ndarray, factor: int):
    """(N,F,H,W) bool -> (N,1,F,H/factor,W/factor) bool torch tensor: a latent cell is
    foreground when any pixel it covers is."""
    import torch

    n, f, h, w = masks.shape
    x = torch.from_numpy(masks).reshape(n * f, 1, h, w).float()
    cells = torch.nn.functional.max_pool2d(x, factor) > 0
    return cells.reshape(n, f, 1, h // factor, w // factor).permute(0, 2, 1, 3, 4)
