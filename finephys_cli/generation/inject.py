"""Pose injection: forward hooks that add the heatmap features at the output of
`down_blocks[i].motion_modules[-1]` (where T2I-Adapter and Follow-Your-Pose add them: inside the
encoder, so the feature flows down the encoder and into the skip). State-dict keys are
unchanged, and the stock AnimateDiffPipeline runs inside the context."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch


@contextmanager
def pose_injection(unet, feats: Sequence[torch.Tensor],
                   scales: Sequence[float] | None = None) -> Iterator[None]:
    """feats[i]: (B·F, C_i, h_i, w_i). Under classifier-free guidance the UNet batch is
    [uncond; cond] of B·F each, so the features are tiled to match."""
    if len(feats) > len(unet.down_blocks):
        raise ValueError(f"{len(feats)} features for {len(unet.down_blocks)} down blocks")
    handles = []
    for i, feat in enumerate(feats):
        scale = 1.0 if scales is None else float(scales[i])
        module = unet.down_blocks[i].motion_modules[-1]

        def hook(mod, inputs, output, feat=feat, scale=scale):
            reps = output.shape[0] // feat.shape[0]
            if reps * feat.shape[0] != output.shape[0]:
                raise ValueError(f"pose features batch {feat.shape[0]} does not divide the "
                                 f"UNet batch {output.shape[0]}")
            f = feat.repeat(reps, 1, 1, 1) if reps > 1 else feat
            return output + scale * f.to(output.dtype)

        handles.append(module.register_forward_hook(hook))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


class PoseSlot:
    """The same injection with hooks installed once: each hook reads its features from this
    object, so a compiled UNet meets the same hook functions on every call and is not
    recompiled per video. `with slot.holding(feats, scales):` sets them for one sample."""

    def __init__(self, unet) -> None:
        self.feats: list[torch.Tensor | None] = [None] * len(unet.down_blocks)
        self.scales: list[float] = [1.0] * len(unet.down_blocks)
        self.handles = [block.motion_modules[-1].register_forward_hook(self._hook(i))
                        for i, block in enumerate(unet.down_blocks)]

    def _hook(self, i: int):
        def hook(mod, inputs, output):
            feat = self.feats[i]
            if feat is None:
                return output
            reps = output.shape[0] // feat.shape[0]
            f = feat.repeat(reps, 1, 1, 1) if reps > 1 else feat
            return output + self.scales[i] * f.to(output.dtype)
        return hook

    @contextmanager
    def holding(self, feats: Sequence[torch.Tensor],
                scales: Sequence[float] | None = None) -> Iterator[None]:
        if len(feats) > len(self.feats):
            raise ValueError(f"{len(feats)} features for {len(self.feats)} down blocks")
        for i, feat in enumerate(feats):
            self.feats[i] = feat
            self.scales[i] = 1.0 if scales is None else float(scales[i])
        try:
            yield
        finally:
            self.feats = [None] * len(self.feats)

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
