"""The FinePhys sampler (paper §4.1, Fig. 2): the stock diffusers `AnimateDiffPipeline`, run
inside `pose_injection` with the heatmap encoder's features of each video's skeleton.

Latents come from the pipeline (`output_type="latent"`); the VAE decode is ours so it can run
in chunks and fall back to fp32 when a half-precision decode gives NaN (AnimateDiff #203/#307).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ConfigError, InputError, UsageError
from .components import BETA_END, BETA_START, Components
from .conditioning import pose_maps
from .inject import PoseSlot, pose_injection
from .stepcache import StepCache, check_step_cache

COMPILE_SCOPES = ("unet", "blocks")
# Inductor modes that capture CUDA graphs. Per block they fail: a block's graph output is still
# held by the residual path when the next block of that shape replays the same graph and
# overwrites it ("accessing tensor output of CUDAGraphs that has been overwritten", H200, with
# reduce-overhead; max-autotune captures graphs the same way and is refused by that reasoning).
CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")


def check_compile_options(mode: str, scope: str, backend: str = "inductor") -> None:
    """ValueError for a scope not in COMPILE_SCOPES, or Inductor's CUDA graphs on the blocks
    scope (other backends ignore the mode)."""
    if scope not in COMPILE_SCOPES:
        raise ValueError(f"compile_scope {scope!r}: expected one of {', '.join(COMPILE_SCOPES)}")
    if scope == "blocks" and backend == "inductor" and mode in CUDA_GRAPH_MODES:
        raise ValueError(f"compile_mode {mode!r} captures CUDA graphs, which the blocks scope "
                         "cannot replay; use compile_scope=unet, or a mode without CUDA graphs "
                         "(default, max-autotune-no-cudagraphs)")


@dataclass
class SampleSettings:
    steps: int = 25
    guidance_scale: float = 7.5
    pose_scale: float = 1.0
    pose_cfg: bool = False        # the unconditional branch without the skeleton (inject.tiled)
    frames: int = 16
    size: int = 384
    negative_prompt: str = ""
    free_init: int = 0            # FreeInit iterations (0: off)
    decode_chunk: int = 8
    step_cache: int = 1           # a full UNet step every N steps (1: every step; stepcache.py)


def check_scheduler(scheduler) -> None:
    """AnimateDiff samples with the schedule it was trained on; anything else blurs (#5881)."""
    c = scheduler.config
    wrong = [f"{k}={getattr(c, k, None)!r}" for k, want in
             (("beta_schedule", "linear"), ("clip_sample", False), ("steps_offset", 1),
              ("beta_start", BETA_START), ("beta_end", BETA_END)) if getattr(c, k, None) != want]
    if wrong:
        raise ConfigError("the sampling scheduler must be AnimateDiff's (linear betas "
                          f"0.00085-0.012, clip_sample False, steps_offset 1); got {', '.join(wrong)}")


def level_sizes(size: int, vae_factor: int, n_levels: int) -> list[int]:
    """The latent resolution of each UNet down block: size/8, size/16, ..."""
    if size % (vae_factor * 2 ** (n_levels - 1)):
        raise UsageError(f"--size {size} must be a multiple of {vae_factor * 2 ** (n_levels - 1)} "
                         f"for this UNet")
    return [size // (vae_factor * 2 ** i) for i in range(n_levels)]


class FinePhysPipeline:
    """Components + an optional heatmap encoder, ready to sample pose-guided clips."""

    def __init__(self, components: Components, encoder=None, *, device: str = "cpu",
                 dtype: torch.dtype = torch.float32):
        from diffusers import AnimateDiffPipeline

        check_scheduler(components.sample_scheduler)
        self.components = components
        self.device, self.dtype = device, dtype
        self.pipe = AnimateDiffPipeline(vae=components.vae, text_encoder=components.text_encoder,
                                        tokenizer=components.tokenizer, unet=components.unet,
                                        motion_adapter=None,
                                        scheduler=components.sample_scheduler)
        self.pipe.set_progress_bar_config(disable=True)
        self.pipe.to(device, dtype)
        self.encoder = encoder.to(device, dtype).eval() if encoder is not None else None
        self.vae_factor = 2 ** (len(components.vae.config.block_out_channels) - 1)
        self.slot: PoseSlot | None = None     # set by compile()
        # Installed by the first cached sample (or shared with another pipeline over this UNet).
        self.step_cache: StepCache | None = getattr(components.unet, "_finephys_step_cache",
                                                    None)
        self.cuda_graphs = False                      # set by compile()

    def compile(self, mode: str = "default", fuse_qkv: bool = False,
                backend: str = "inductor", scope: str = "unet") -> None:
        """torch.compile the UNet and the VAE decoder (channels_last, static shapes). The pose
        hooks are installed once (PoseSlot), so no video recompiles the UNet. `scope="blocks"`
        compiles each ResNet and transformer block alone instead of the whole network
        (regional compilation): one graph per block shape, so a shorter first compile and a
        faster warm start, with the glue between blocks left eager."""
        check_compile_options(mode, scope, backend)
        self.cuda_graphs = backend == "inductor" and mode in CUDA_GRAPH_MODES
        unet = self.pipe.unet
        if fuse_qkv:
            unet.fuse_qkv_projections()
        self.slot = PoseSlot(unet)
        unet.to(memory_format=torch.channels_last)
        options = {"mode": mode} if backend == "inductor" else {}
        vae = self.components.vae
        vae.to(memory_format=torch.channels_last)
        if scope == "blocks":
            from diffusers.models.attention import BasicTransformerBlock
            from diffusers.models.resnet import ResnetBlock2D

            # One graph per (block class, shapes): the UNet has ~30, above Dynamo's default 8.
            torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
            for module in [*unet.modules(), *vae.decoder.modules()]:
                if isinstance(module, (BasicTransformerBlock, ResnetBlock2D)):
                    module.compile(backend=backend, dynamic=False, **options)
            return
        self.pipe.unet = torch.compile(unet, backend=backend, dynamic=False, **options)
        vae.decoder = torch.compile(vae.decoder, backend=backend, dynamic=False, **options)

    def set_temporal_attention(self, kind: str) -> int:
        """The motion modules' attention kernel: "sdpa" (diffusers' default) or "math"
        (diffusers' AttnProcessor: explicit matmul + softmax). Their sequences are the clip's
        frames (16), for which fused SDPA kernels pad every tile to 64-128 rows; the profile
        in benchmarks/results/generate/ measures which is faster. Returns the layers set."""
        from diffusers.models.attention_processor import Attention, AttnProcessor, \
            AttnProcessor2_0

        if kind not in ("sdpa", "math"):
            raise UsageError(f"temporal attention must be sdpa or math, got {kind!r}")
        unet = getattr(self.pipe.unet, "_orig_mod", self.pipe.unet)
        layers = [m for name, m in unet.named_modules()
                  if "motion_modules" in name and isinstance(m, Attention)]
        for module in layers:
            module.set_processor(AttnProcessor() if kind == "math" else AttnProcessor2_0())
        return len(layers)

    @property
    def unet(self):
        return self.pipe.unet

    @property
    def max_frames(self) -> int:
        return int(self.unet.config.motion_max_seq_length)

    def levels(self, size: int) -> list[int]:
        n = len(self.encoder.config.channels) if self.encoder is not None else \
            len(self.unet.down_blocks)
        return level_sizes(size, self.vae_factor, n)

    def pose_features(self, poses: Sequence[tuple], size: int) -> list[torch.Tensor]:
        """Each pose (F,17,2) crop px + scores (F,17) [+ its stored maps: full size, then one
        per level] -> encoder features (B·F, C_i, h_i, w_i)."""
        full, levels = [], None
        for kp, sc, *stored in poses:
            if stored and stored[0] is not None:
                f, *lv = (torch.as_tensor(m, dtype=torch.float32, device=self.device)
                          for m in stored[0])
            else:
                f, lv = pose_maps(torch.as_tensor(kp, dtype=torch.float32, device=self.device),
                                  torch.as_tensor(sc, dtype=torch.float32, device=self.device),
                                  size, self.levels(size))
            full.append(f)
            levels = [[m] for m in lv] if levels is None else \
                [acc + [m] for acc, m in zip(levels, lv)]
        return self.encode_heatmaps(torch.cat(full), [torch.cat(m) for m in levels])

    def encode_heatmaps(self, full: torch.Tensor, levels: list[torch.Tensor]
                        ) -> list[torch.Tensor]:
        want = self.encoder.config.in_channels
        if full.shape[1] != want:
            raise InputError(f"the heatmaps have {full.shape[1]} channels; the heatmap encoder "
                             f"takes {want}")
        with torch.inference_mode():
            return self.encoder(full.to(self.dtype), [m.to(self.dtype) for m in levels])

    def latents(self, prompts: Sequence[str], seeds: Sequence[int], settings: SampleSettings,
                poses: Sequence[tuple] | None = None,
                on_step: Callable[[], None] | None = None) -> torch.Tensor:
        """(B, C, F, h, w) final latents; one prompt, seed and pose per video."""
        if settings.frames > self.max_frames:
            raise UsageError(f"--frames {settings.frames}: the motion module handles at most "
                             f"{self.max_frames}")
        if len(seeds) != len(prompts):
            raise ValueError("one seed per prompt")
        feats = None
        if poses is not None and self.encoder is not None and settings.pose_scale != 0:
            for kp, *_ in poses:
                if len(kp) != settings.frames:
                    raise InputError(f"a skeleton has {len(kp)} frames, --frames is "
                                     f"{settings.frames}")
            feats = self.pose_features(poses, settings.size)
        if settings.free_init:
            self.pipe.enable_free_init(num_iters=settings.free_init)
        else:
            self.pipe.disable_free_init()
        gens = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]

        check_step_cache(settings.step_cache, self.cuda_graphs)
        if settings.step_cache > 1 and self.step_cache is None:
            self.step_cache = StepCache.on(getattr(self.unet, "_orig_mod", self.unet))
        caching = self.step_cache.every(settings.step_cache) if self.step_cache else \
            nullcontext()

        def callback(pipe, i, t, kwargs):
            if self.step_cache is not None:
                self.step_cache.after_step(i, pipe.num_timesteps)
            if on_step is not None:
                on_step()
            return kwargs

        if feats is None:
            injection = nullcontext()
        elif self.slot is not None:
            injection = self.slot.holding(feats, [settings.pose_scale] * len(feats),
                                          settings.pose_cfg)
        else:
            injection = pose_injection(self.unet, feats, [settings.pose_scale] * len(feats),
                                       settings.pose_cfg)
        with injection, caching, torch.inference_mode():
            out = self.pipe(prompt=list(prompts),
                            negative_prompt=[settings.negative_prompt] * len(prompts),
                            num_frames=settings.frames, height=settings.size,
                            width=settings.size, num_inference_steps=settings.steps,
                            guidance_scale=settings.guidance_scale, generator=gens,
                            output_type="latent", callback_on_step_end=callback)
        return out.frames

    def decode(self, latents: torch.Tensor, chunk: int = 8) -> np.ndarray:
        """(B,C,F,h,w) latents -> (B,F,H,W,3) uint8, `chunk` frames per VAE call."""
        vae = self.components.vae
        b, c, f, h, w = latents.shape
        z = latents.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w) / vae.config.scaling_factor
        out = []
        with torch.inference_mode():
            for s in range(0, len(z), chunk):
                part = z[s:s + chunk]
                img = vae.decode(part.to(vae.dtype)).sample
                if torch.isnan(img).any() and vae.dtype != torch.float32:
                    from ..console import log

                    log.warning("VAE decode gave NaN in %s; decoding in fp32", vae.dtype)
                    vae.to(torch.float32)
                    img = vae.decode(part.float()).sample
                out.append(((img.float() / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
                           .permute(0, 2, 3, 1).cpu())
        frames = torch.cat(out).numpy()
        return frames.reshape(b, f, *frames.shape[1:])

    def __call__(self, prompts: Sequence[str], seeds: Sequence[int], settings: SampleSettings,
                 poses: Sequence[tuple] | None = None,
                 on_step: Callable[[], None] | None = None) -> np.ndarray:
        return self.decode(self.latents(prompts, seeds, settings, poses, on_step),
                           settings.decode_chunk)
