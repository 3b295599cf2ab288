"""DeepCache-style step caching for the AnimateDiff UNet (Ma et al., "DeepCache: Accelerating
Diffusion Models for Free", CVPR 2024): opt-in, and it changes the output.

The UNet's deep features change slowly from one denoising step to the next. Every
`interval`-th step runs the whole UNet; the steps between rerun only the outermost level
(`conv_in`, `down_blocks[0]`, `up_blocks[-1]`, `conv_out`, with their motion modules and the
level-0 pose injection) and take the other blocks' outputs from the last full step. At 16×384²
that outer level is 33% of the UNet's FLOPs (FlopCounterMode, SD1.5 + motion adapter v2).

The DeepCache package itself patches `UNet2DConditionModel` and leaves `UNetMotionModel`'s
motion modules out, so this binds a caching `forward` to the motion UNet's deep blocks. It is
installed the first time a sample asks for the cache (so training and exact sampling never
meet it) and then stays, so a compiled UNet meets the same functions on every call. Which
steps reuse is set between steps, outside the UNet, by `after_step` (the pipeline's step
callback), so Dynamo guards on the cache's flags and its dict's keys, not on a step counter:
the first cached sample compiles up to three variants (full with an empty cache, full, cached)
and later ones none.

CUDA graphs (Inductor's `reduce-overhead`, `max-autotune`) are refused with it: the reused
outputs live in the graph pool, which the next replay frees (`check_step_cache`).
"""

from __future__ import annotations

import types
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


def check_step_cache(interval: int, cuda_graphs: bool) -> None:
    if interval < 1:
        raise UsageError(f"--step-cache {interval}: must be 1 (off) or more")
    if interval > 1 and cuda_graphs:
        raise UsageError("--step-cache reuses UNet outputs across steps, which a CUDA-graph "
                         "compile mode (reduce-overhead, max-autotune) frees at the next "
                         "replay; use the default compile mode with it")


def _cached_forward(block, *args, **kwargs):
    """A deep block's forward, bound to it (so deepcopy rebinds it to the copy's block)."""
    cache = block._finephys_step_cache
    key = block._finephys_step_cache_key
    if cache.reuse:
        return cache.outputs[key]
    out = type(block).forward(block, *args, **kwargs)
    if cache.interval > 1:
        cache.outputs[key] = out
    return out


class StepCache:
    """`StepCache.on(unet)` installs it once per UNet; `with cache.every(interval):` caches for
    one sample."""

    @classmethod
    def on(cls, unet) -> "StepCache":
        """The UNet's cache, installed at the first call (a second pipeline over the same
        UNet shares it)."""
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
            block._finephys_step_cache = self
            block._finephys_step_cache_key = key
            block.forward = types.MethodType(_cached_forward, block)

    def after_step(self, index: int, steps: int) -> None:
        """Called after denoising step `index` of a pass of `steps` (0-based; each FreeInit
        iteration is a pass, and each pass starts with a full step)."""
        following = (index + 1) % steps
        self.reuse = self.interval > 1 and following % self.interval != 0

    @contextmanager
    def every(self, interval: int) -> Iterator[None]:
        check_step_cache(interval, cuda_graphs=False)
        self.interval, self.reuse = interval, False
        self.outputs.clear()
        try:
            yield
        finally:
            self.interval, self.reuse = 1, False
            self.outputs.clear()
