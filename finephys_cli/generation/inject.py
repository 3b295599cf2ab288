"""Pose injection: forward hooks that add the heatmap features at the output of
`down_blocks[i].motion_modules[-1]` (where T2I-Adapter and Follow-Your-Pose add them: inside the
encoder, so the feature flows down the encoder and into the skip). State-dict keys are
unchanged, and the stock AnimateDiffPipeline runs inside the context."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch


def tiled(feat: torch.Tensor, output: torch.Tensor, pose_cfg: bool = False) -> torch.Tensor:
    """`feat` (B·F, ...) repeated to the UNet batch of `output`. Under classifier-free guidance
    that batch is [uncond; cond]; with `pose_cfg` the unconditional half gets no skeleton, so
    the guidance extrapolates from (no text, no pose) to (text, pose) and amplifies both. The
    paper does not say how the skeleton meets CFG; without `pose_cfg` both halves get it, as
    in Follow-Your-Pose (the offline generator's card has the ablation)."""
    reps = output.shape[0] // feat.shape[0]
    if reps * feat.shape[0] != output.shape[0]:
        raise ValueError(f"pose features batch {feat.shape[0]} does not divide the "
                         f"UNet batch {output.shape[0]}")
    if reps == 1:
        return feat
    if pose_cfg and reps != 2:
        raise ValueError(f"pose_cfg needs a [uncond; cond] UNet batch, got {reps} copies")
    f = feat.repeat(reps, 1, 1, 1)
    if pose_cfg:
        f[: len(f) // 2] = 0
    return f


@contextmanager
def pose_injection(unet, feats: Sequence[torch.Tensor],
                   scales: Sequence[float] | None = None, pose_cfg: bool = False
                   ) -> Iterator[None]:
    """feats[i]: (B·F, C_i, h_i, w_i), tiled to the UNet batch (`tiled`)."""
    if len(feats) > len(unet.down_blocks):
        raise ValueError(f"{len(feats)} features for {len(unet.down_blocks)} down blocks")
    handles = []
    for i, feat in enumerate(feats):
        scale = 1.0 if scales is None else float(scales[i])
        module = unet.down_blocks[i].motion_modules[-1]

        def hook(mod, inputs, output, feat=feat, scale=scale):
            return output + scale * tiled(feat, output, pose_cfg).to(output.dtype)

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
        self.pose_cfg = False
        self.handles = [block.motion_modules[-1].register_forward_hook(self._hook(i))
                        for i, block in enumerate(unet.down_blocks)]

    def _hook(self, i: int):
        def hook(mod, inputs, output):
            feat = self.feats[i]
            if feat is None:
                return output
            return output + self.scales[i] * tiled(feat, output, self.pose_cfg).to(output.dtype)
        return hook

    @contextmanager
    def holding(self, feats: Sequence[torch.Tensor],
                scales: Sequence[float] | None = None, pose_cfg: bool = False
                ) -> Iterator[None]:
        if len(feats) > len(self.feats):
            raise ValueError(f"{len(feats)} features for {len(self.feats)} down blocks")
        self.pose_cfg = pose_cfg
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
