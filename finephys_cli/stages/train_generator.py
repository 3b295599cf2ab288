"""`train-heatmap-encoder` and `train-lora`: FinePhys training steps 1 and 4 (§4.1, eq. 21-24).

One loop, three modes of what trains:
- `encoder` (step 1, the T2I-Adapter recipe): single frames, the UNet frozen, ε-MSE, only the
  heatmap encoder learns;
- `lora` (step 4, MotionDirector's recipe): per step, a spatial pass (one random frame as a
  1-frame clip, temporal LoRA off; skipped with probability 0.2) updates the spatial LoRA (and
  the encoder) from L_spat, then a temporal pass over the clip updates the temporal LoRA (and
  the encoder, PhysNet and the projection) from L_temp + L_ad-temp; separate optimizers;
- `unet`: every UNet weight trains on L_spat + L_temp + L_ad-temp with one optimizer (how our
  small offline generator is trained from scratch, where there is no base model to adapt).

With `--physnet`, each clip's S_dd goes through PhysNet, fusion and the projection, then the
differentiable heatmap render, so the generator loss (and the L_2D term) reach PhysNet.

Beyond the paper (off by default): pose-conditioning dropout (`pose_dropout`, the encoder's
features zeroed on that share of samples, so the text alone learns the performer and
pose-scale 0 still draws one), EMA weights for the exported model (`ema_decay`), and a warm-up +
cosine learning-rate schedule (`lr_schedule`, `warmup_steps`), and a foreground weight on the
ε losses (`foreground_weight`; it did not help the offline generator: its model card). The
step itself is `generation/training.py`.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..console import log, track
from ..errors import InputError, UsageError
from ..generation.training import (GeneratorParts, StepContext, cache_latents,
                                   prerender_heatmaps, skeleton_features, text_embeddings,
                                   train_step)
from .training import RunDir, batch_indices, checkpoint_due, make_accelerator
from ..data.prompts import match_prompt
from ..generation.components import Components
from ..generation.inject import pose_injection
from ..generation.lora import add_loras, lora_mode, save_loras
from ..generation.pipeline import FinePhysPipeline, SampleSettings, level_sizes
from ..io.clips import load_clips
from ..io.video import strip_image, write_video

MODES = ("encoder", "lora", "unet")
LR_SCHEDULES = ("constant", "cosine", "linear")

__all__ = ["GeneratorParts", "TrainGeneratorConfig", "run_train_generator"]


@dataclass
class TrainGeneratorConfig:
    clips: tuple[str, ...] = ()
    name: str = "generator"
    mode: str = "lora"
    steps: int = 8000
    batch_size: int = 1              # clips per step, global
    lr: float = 5e-4
    weight_decay: float = 1e-2
    rank: int = 64
    lora_dropout: float = 0.1
    spatial_skip: float = 0.2
    ad_beta: float = 1.0
    null_text: float = 0.1
    pose_dropout: float = 0.0        # share of samples trained with the skeleton encoder off
    foreground_weight: float = 0.0   # extra ε-loss weight on latent cells the performer covers
                                     # (fixed-camera clips: data/foreground.py)
    ema_decay: float = 0.0           # 0: no EMA; else the exported model holds EMA weights
    lr_schedule: str = "constant"    # constant, cosine or linear decay over `steps`
    warmup_steps: int = 0
    train_encoder: bool = True
    physnet_weight: float = 1.0      # weight of the L_2D term when PhysNet trains in the loop
    mixed_precision: str = "no"      # no, bf16 or fp16
    gradient_checkpointing: bool = False
    compile: bool = False            # torch.compile the UNet's training forward (static shapes;
    compile_backend: str = "inductor"  # the pose hooks installed once, as generate --compile)
    grad_clip: float = 1.0
    eval_every: int = 500
    val_prompt: str = "Switch leap with 0.5 turn"
    val_seed: int = 0
    val_steps: int = 25
    tensorboard: bool = False
    time_limit_s: float = 0.0
    seed: int = 0


def run_train_generator(cfg: TrainGeneratorConfig, parts_factory, runs: Path, *,
                        command: str, device: str = "cpu", resume: str | None = None,
                        progress: str = "auto", physnet_dir: Path | None = None) -> Path:
    """`parts_factory()` builds the GeneratorParts (loaded or new); the loop is shared."""
    import torch
    from accelerate.utils import DistributedDataParallelKwargs


    if cfg.mode not in MODES:
        raise UsageError(f"mode must be one of {', '.join(MODES)}, got {cfg.mode!r}")
    if cfg.lr_schedule not in LR_SCHEDULES:
        raise UsageError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, "
                         f"got {cfg.lr_schedule!r}")
    if not 0 <= cfg.pose_dropout < 1 or not 0 <= cfg.ema_decay < 1:
        raise UsageError("pose_dropout and ema_decay must lie in [0, 1)")
    if cfg.foreground_weight < 0:
        raise UsageError(f"foreground_weight must be >= 0, got {cfg.foreground_weight}")
    if not cfg.clips:
        raise InputError(f"{command} needs --clips (files from finephys prepare-clips)")
    acc = make_accelerator(device, cfg.seed, mixed_precision=cfg.mixed_precision,
                           kwargs_handlers=[DistributedDataParallelKwargs(
                               find_unused_parameters=True)])
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    run = RunDir(runs, command, cfg.name)
    run.start(cfg, acc.is_main_process, resume)
    data = load_clips([Path(p) for p in cfg.clips])
    frames, size = data.frames.shape[1], data.frames.shape[2]
    parts: GeneratorParts = parts_factory()
    comps = parts.components
    dev = acc.device
    if physnet_dir is not None:
        if data.pose3d_dd is None:
            raise InputError("--physnet needs clips prepared from a phys file (with pose3d_dd)")
        from ..models.physnet import load_refiner

        parts.physnet, parts.projection = load_refiner(physnet_dir, "cpu")
        parts.physnet.train()
    unet, encoder, vae = comps.unet, parts.encoder, comps.vae
    for frozen in (vae, comps.text_encoder):
        frozen.requires_grad_(False)
        frozen.to(dev)
    unet.requires_grad_(cfg.mode == "unet")
    encoder.requires_grad_(cfg.mode == "encoder" or cfg.train_encoder)
    if cfg.mode == "lora":
        add_loras(unet, rank=cfg.rank, dropout=cfg.lora_dropout)
    if cfg.gradient_checkpointing:
        unet.enable_gradient_checkpointing()
    vae_factor = 2 ** (len(vae.config.block_out_channels) - 1)
    levels = level_sizes(size, vae_factor, len(encoder.config.channels))
    latents = cache_latents(vae, data.frames, dev, run.path / "cache" / "latents.pt", cfg.seed)
    texts, null_text = text_embeddings(comps, data.prompts, dev)

    def group(params):
        return [p for p in params if p.requires_grad]

    enc_params = group(encoder.parameters())
    phys_params = [] if parts.physnet is None else \
        list(parts.physnet.parameters()) + (list(parts.projection.parameters())
                                            if parts.projection is not None else [])
    opt_kw = dict(lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.mode == "lora":
        lora_mode(unet, "both")
        spatial = [p for n_, p in unet.named_parameters() if "lora_" in n_ and ".spatial." in n_]
        temporal = [p for n_, p in unet.named_parameters() if "lora_" in n_ and ".temporal." in n_]
        opt_s = torch.optim.AdamW(spatial + enc_params, **opt_kw)
        opt_t = torch.optim.AdamW(temporal + phys_params, **opt_kw)
        optimizers = [opt_s, opt_t]
    elif cfg.mode == "unet":
        optimizers = [torch.optim.AdamW(list(unet.parameters()) + enc_params + phys_params,
                                        **opt_kw)]
    else:
        optimizers = [torch.optim.AdamW(enc_params, **opt_kw)]
    to_prepare = [unet, encoder] + ([parts.physnet] if parts.physnet is not None else [])
    if parts.projection is not None:
        to_prepare.append(parts.projection)
    prepared = acc.prepare(*to_prepare, *optimizers)
    unet, encoder = prepared[0], prepared[1]
    if parts.physnet is not None:
        parts.physnet = prepared[2]
        if parts.projection is not None:
            parts.projection = prepared[3]
    optimizers = list(prepared[len(to_prepare):])
    schedulers, ema, averaged = _schedules_and_ema(acc, cfg, optimizers)
    state = run.restore(acc, resume)
    writer = _tensorboard(run.path, cfg.tensorboard and acc.is_main_process)
    val_idx = _validation_indices(data, cfg.val_prompt)

    def export(folder: Path) -> None:
        with _ema_weights(ema, averaged):
            _export(folder)

    def _export(folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        raw_unet = acc.unwrap_model(unet)
        acc.unwrap_model(encoder).save_pretrained(folder / "heatmap_encoder",
                                                  extra={"trained_steps": state.step})
        if cfg.mode == "lora":
            save_loras(raw_unet, folder / "lora")
        if cfg.mode == "unet":
            # A complete SD1.5-layout folder, so generate --sd15 takes it as it is.
            import shutil

            raw_unet.save_pretrained(folder / "sd15" / "unet")
            for sub in ("vae", "text_encoder", "tokenizer", "model_index.json"):
                src = Path(parts.sd15_dir or "") / sub
                if src.is_dir():
                    shutil.copytree(src, folder / "sd15" / sub, dirs_exist_ok=True)
                elif src.is_file():
                    shutil.copy2(src, folder / "sd15" / sub)
        if parts.physnet is not None:
            acc.unwrap_model(parts.physnet).save_pretrained(folder / "physnet")
            if parts.projection is not None:
                from safetensors.torch import save_file

                save_file({k: v.contiguous().cpu() for k, v in
                           acc.unwrap_model(parts.projection).state_dict().items()},
                          str(folder / "physnet" / "projection.safetensors"))
        (folder / "finephys_generator.json").write_text(json.dumps(
            {"size": size, "frames": frames, "mode": cfg.mode, "steps": state.step}))

    maps = prerender_heatmaps(data, size, levels, dev) if parts.physnet is None else None
    forward_unet, slot = _compiled_unet(acc, unet, cfg.compile_backend) if cfg.compile \
        else (None, None)
    foreground = None
    if cfg.foreground_weight > 0:
        from ..data.foreground import foreground_masks, latent_masks

        foreground = latent_masks(foreground_masks(data.frames), vae_factor)
    ctx = StepContext(acc, unet, encoder, parts, data, cfg, texts, null_text, latents, levels,
                      maps, forward_unet, slot, foreground)
    steps = range(state.step, cfg.steps)
    started = time.monotonic()
    step_times: list[float] = []    # the training steps alone (no validation), per logged row
    for step in track(steps, total=len(steps), description=command, unit="step",
                      mode=progress if acc.is_main_process else "none"):
        idx, g = batch_indices(len(data), cfg.batch_size, step, cfg.seed, acc.process_index,
                               acc.num_processes)
        began = time.perf_counter()
        row = train_step(ctx, optimizers, idx.numpy(), g)   # its float() reads synchronise
        step_times.append(time.perf_counter() - began)
        for sched in schedulers:
            sched.step()
        if ema is not None:
            ema.step(averaged)
        state.step = step + 1
        due, out_of_time = checkpoint_due(state, cfg.steps, cfg.eval_every, cfg.time_limit_s,
                                          started)
        if writer is not None:
            for k, v in row.items():
                writer.add_scalar(k, v, state.step)
        if due:
            val_value = None
            if acc.is_main_process:
                with _ema_weights(ema, averaged):
                    val_value = _validate(acc, parts, unet, encoder, data, latents, texts,
                                          val_idx, cfg, levels, size, run.path, state.step)
                row["val_loss"] = val_value
            if schedulers:
                row["lr"] = schedulers[0].get_last_lr()[0]
            row = {"step": state.step, **row, "elapsed_s": round(time.monotonic() - started, 1),
                   "step_s": round(float(np.median(step_times)), 4)}
            step_times.clear()
            if run.end_step(acc, state, row, val_value, export, out_of_time, cfg.steps):
                break
    if writer is not None:
        writer.close()
    return run.path


def _schedules_and_ema(acc, cfg: TrainGeneratorConfig, optimizers: list):
    """The learning-rate schedulers and the EMA of every trained weight, each registered with
    the accelerate checkpoint so --resume continues them; none when the config leaves them off
    (the loop then runs exactly as before they existed)."""
    schedulers = []
    if cfg.lr_schedule != "constant" or cfg.warmup_steps > 0:
        from diffusers.optimization import get_scheduler

        # Plain schedulers, registered rather than prepared: a prepared one would step once
        # per process on every call and shorten the warm-up on several GPUs.
        for opt in optimizers:
            sched = get_scheduler(cfg.lr_schedule, opt, num_warmup_steps=cfg.warmup_steps,
                                  num_training_steps=max(cfg.steps, 1))
            acc.register_for_checkpointing(sched)
            schedulers.append(sched)
    ema, averaged = None, []
    if cfg.ema_decay > 0:
        from diffusers.training_utils import EMAModel

        averaged = [p for opt in optimizers for grp in opt.param_groups for p in grp["params"]]
        ema = EMAModel(averaged, decay=cfg.ema_decay)
        acc.register_for_checkpointing(ema)
    return schedulers, ema, averaged


@contextmanager
def _ema_weights(ema, params: list):
    """The EMA weights in place of the trained ones for the duration (validation, export)."""
    if ema is None:
        yield
        return
    ema.store(params)
    ema.copy_to(params)
    try:
        yield
    finally:
        ema.restore(params)


def _tensorboard(path: Path, enabled: bool):
    if not enabled:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log.warning("--tensorboard needs the tensorboard package (pip install tensorboard); "
                    "metrics.csv only")
        return None
    return SummaryWriter(str(path / "tensorboard"))


def _validation_indices(data, prompt: str) -> np.ndarray:
    """Fixed validation samples: the clips of the validation prompt's class (else the first
    clips); their loss at fixed noise and timesteps picks model-best."""

    c = match_prompt(prompt)
    hits = np.flatnonzero(data.classes == c.gym99_class) if c else np.zeros(0, int)
    return (hits if len(hits) else np.arange(len(data)))[:4]


def _compiled_unet(acc, unet, backend: str = "inductor"):
    """(torch.compile of the prepared UNet, the PoseSlot its pose features go through). Only
    the training forward is compiled: export, checkpoints and validation keep the eager
    module, so parameter names and files are those of an eager run."""
    import torch

    from ..generation.compile import enable_persistent_cache
    from ..generation.inject import PoseSlot

    if backend == "inductor":
        enable_persistent_cache()
    slot = PoseSlot(acc.unwrap_model(unet))
    log.info("train-lora: compiling the UNet's training step (minutes on the first step; "
             "Inductor's cache keeps the kernels for the next run)")
    return torch.compile(unet, backend=backend, dynamic=False), slot


def _validate(acc, parts, unet, encoder, data, latents, texts, val_idx, cfg, levels,
              size: int, run_path: Path, step: int) -> float:
    """ε-MSE on the fixed validation samples at fixed noise and t, then one sampled video with
    the fixed seed and prompt, written to val/step-XXXXXXXX.mp4 and .png."""
    import torch


    raw_unet, raw_enc = acc.unwrap_model(unet), acc.unwrap_model(encoder)
    dev = acc.device
    was_training = raw_unet.training
    raw_unet.eval()
    raw_enc.eval()
    g = torch.Generator().manual_seed(1234)
    idx = np.asarray(val_idx)
    z0 = latents[torch.as_tensor(idx)].to(dev)
    noise = torch.randn(z0.shape, generator=g).to(dev)
    t = torch.linspace(100, 900, len(idx)).long().to(dev)
    sched = parts.components.noise_scheduler
    with torch.no_grad():
        kp = torch.as_tensor(data.keypoints[idx], dtype=torch.float32, device=dev)
        sc = torch.as_tensor(data.scores[idx], dtype=torch.float32, device=dev)
        feats = skeleton_features(raw_enc, kp, sc, size, levels)
        ehs = torch.stack([texts[data.prompts[i]] for i in idx.tolist()])
        noisy = sched.add_noise(z0, noise, t)
        with pose_injection(raw_unet, feats):
            pred = raw_unet(noisy, t, encoder_hidden_states=ehs.repeat_interleave(
                z0.shape[2], 0)).sample
        val_loss = float(torch.nn.functional.mse_loss(pred.float(), noise))
    comps = parts.components
    pipe = FinePhysPipeline(Components(comps.tokenizer, comps.text_encoder, comps.vae, raw_unet,
                                       comps.noise_scheduler, comps.sample_scheduler),
                            raw_enc, device=str(dev))
    i = int(val_idx[0])
    video = pipe([cfg.val_prompt], [cfg.val_seed],
                 SampleSettings(steps=cfg.val_steps, frames=data.frames.shape[1], size=size),
                 poses=[(data.keypoints[i], data.scores[i])])[0]
    out = run_path / "val" / f"step-{step:08d}"
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_video(out.with_suffix(".mp4"), video, fps=8.0)
    except ImportError:   # PyAV missing (a bare GPU image): the PNG strip still records it
        log.warning("PyAV is not installed: validation strip only (%s.png)", out)
    from PIL import Image

    Image.fromarray(np.concatenate([strip_image(video), strip_image(data.frames[i])], 0)).save(
        out.with_suffix(".png"))
    if was_training:
        raw_unet.train()
    raw_enc.train()
    return val_loss


