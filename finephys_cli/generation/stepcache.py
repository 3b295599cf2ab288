"""DeepCache-style step caching for the AnimateDiff UNet (Ma et al., "DeepCache: Accelerating
Diffusion Models for Free", CVPR 2024): opt-in, and it changes the output.

The UNet's deep features change slowly from one denoising step to the next. Every
`interval`-th step runs the whole UNet; the steps between rerun only the outermost level
(`conv_in`, `down_blocks[0]`, `up_blocks[-1]`, `conv_out`, with their motion modules and the
level-0 pose injection) and take the other blocks' outputs from the last full step. At 16×384²
that outer level is 33% of the UNet's FLOPs (FlopCounterMode, SD1.5 + motion adapter v2).

The DeepCache package itself patches `UNet2DConditionModel` and leaves `UNetMotionModel`'s
motion modules out, so this wraps the deep blocks' `forward` of the motion UNet instead. The
wrappers are installed once and stay (as the pose hooks do), so a compiled UNet meets the same
functions on every call; which steps reuse is set between steps, outside the UNet, by
`after_step` (the pipeline's step callback), so the compiled UNet sees one bool, not a
counter.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import UsageError


def deep_blocks(unet) -> list[tuple[str, object]]:
    """The blocks a cached step reuses: every down block but the first, the mid block, and
    every up block but the last."""
    return ([(f"down_blocks.{i}", b) for i, b in enumerate(unet.down_blocks) if i > 0]
            + [("mid_block", unet.mid_block)]
            + [(f"up_blocks.{i}", b) for i, b in enumerate(unet.up_blocks)
               if i < len(unet.up_blocks) - 1])


class StepCache:
    """Installed once on a UNet (`StepCache.on(unet)`); `with cache.every(interval):` caches
    for one sample."""

    @classmethod
    def on(cls, unet) -> "StepCache":
        """The UNet's cache, installed at the first call (a second pipeline over the same
        UNet shares it instead of wrapping the wrappers)."""
        cache = getattr(unet, "_finephys_step_cache", None)
        if cache is None:
            cache = cls(unet)
            unet._finephys_step_cache = cache
        return cache

    def __init__(self, unet) -> None:
        self.interval = 1
        self.reuse = False            # the next UNet call takes the deep blocks from `outputs`
        self.outputs: dict[str, object] = {}
        for key, block in deep_blocks(unet):
            block.forward = self._wrap(key, block.forward)

    def _wrap(self, key: str, forward):
        def cached_forward(*args, **kwargs):
            if self.reuse:
                return self.outputs[key]
            out = forward(*args, **kwargs)
            if self.interval > 1:
                self.outputs[key] = out
            return out
        return cached_forward

    def after_step(self, index: int, steps: int) -> None:
        """Called after denoising step `index` of a pass of `steps` (0-based; each FreeInit
        iteration is a pass, and each pass starts with a full step)."""
        following = (index + 1) % steps
        self.reuse = self.interval > 1 and following % self.interval != 0

    @contextmanager
    def every(self, interval: int) -> Iterator[None]:
        if interval < 1:
            raise UsageError(f"--step-cache {interval}: must be 1 (off) or more")
        self.interval, self.reuse = interval, False
        self.outputs.clear()
        try:
            yield
        finally:
            self.interval, self.reuse = 1, False
            self.outputs.clear()
