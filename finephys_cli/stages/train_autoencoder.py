"""`train-autoencoder`: the offline generator's small AutoencoderKL (its latent space)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..console import track
from ..errors import InputError, UsageError
from .training import RunDir, batch_indices, checkpoint_due, make_accelerator, optimizer_step
from ..generation.components import small_vae
from ..data.foreground import foreground_masks
from ..io.clips import load_clips


@dataclass
class TrainAutoencoderConfig:
    clips: tuple[str, ...] = ()
    name: str = "vae"
    steps: int = 4000
    batch_size: int = 64             # frames per step, global
    lr: float = 1e-3
    weight_decay: float = 0.0
    kl_weight: float = 1e-6
    channels: tuple[int, ...] = (32, 64, 128, 128)
    latent_channels: int = 8
    mixed_precision: str = "no"
    eval_every: int = 500
    time_limit_s: float = 0.0
    seed: int = 0
    init_from: str = ""              # an AutoencoderKL folder to start from (its `vae` or itself);
                                     # its own channels and latent_channels then apply
    train_encoder: bool = True       # False: the decoder alone learns, the latent space is kept
    foreground_weight: float = 0.0   # extra weight on pixels off their clip's static background
                                     # (fixed-camera clips, as prepare-clips makes from synth)


def run_train_autoencoder(cfg: TrainAutoencoderConfig, runs: Path, *, device: str = "cpu",
                          resume: str | None = None, progress: str = "auto") -> Path:
    """A small AutoencoderKL for the offline generator: L1 + MSE reconstruction + a small KL;
    the held-out PSNR (every 16th clip) picks model-best, its foreground PSNR when
    `foreground_weight` is on.

    The performer covers a few percent of a frame, so an unweighted loss is met by the
    background and thin limbs blur away. `foreground_weight` w weighs each pixel that differs
    from its clip's temporal median (the static background of a fixed crop) by 1 + w.
    `train_encoder=False` with `init_from` fine-tunes the decoder alone, as SD's ft-MSE VAE was:
    the latents, and so a generator trained on them, stay valid."""
    import torch

    from ..generation.losses import weighted_mean

    if not cfg.clips:
        raise InputError("train-autoencoder needs --clips (files from finephys prepare-clips)")
    if cfg.foreground_weight < 0:
        raise UsageError(f"foreground_weight must be >= 0, got {cfg.foreground_weight}")
    if not cfg.train_encoder and not cfg.init_from:
        raise UsageError("train_encoder=false keeps a latent space: give --set init_from=")
    # The starting VAE is read before anything is written, so a bad path leaves no run behind.
    vae = load_vae(cfg.init_from) if cfg.init_from else \
        small_vae(cfg.latent_channels, tuple(cfg.channels))
    acc = make_accelerator(device, cfg.seed, mixed_precision=cfg.mixed_precision)
    run = RunDir(runs, "train-autoencoder", cfg.name)
    run.start(cfg, acc.is_main_process, resume)
    data = load_clips([Path(p) for p in cfg.clips])
    held = np.arange(len(data)) % 16 == 15
    masks = foreground_masks(data.frames)
    train_frames = torch.from_numpy(data.frames[~held].reshape(-1, *data.frames.shape[2:]))
    train_masks = torch.from_numpy(masks[~held].reshape(-1, *masks.shape[2:]))
    val_sel = held if held.any() else ~held
    val_frames = torch.from_numpy(data.frames[val_sel].reshape(-1, *data.frames.shape[2:])[:64])
    val_masks = torch.from_numpy(masks[val_sel].reshape(-1, *masks.shape[2:])[:64])
    if not cfg.train_encoder:
        for part in (vae.encoder, vae.quant_conv):
            if part is not None:
                part.requires_grad_(False)
    trained = [p for p in vae.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trained, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(cfg.steps, 1))
    vae, opt, sched = acc.prepare(vae, opt, sched)
    state = run.restore(acc, resume)
    dev = acc.device

    def to_x(u8):
        return u8.to(dev).permute(0, 3, 1, 2).float() / 127.5 - 1

    def export(folder: Path) -> None:
        acc.unwrap_model(vae).save_pretrained(folder / "vae")

    steps = range(state.step, cfg.steps)
    started = time.monotonic()
    for step in track(steps, total=len(steps), description="train-autoencoder", unit="step",
                      mode=progress if acc.is_main_process else "none"):
        idx, g = batch_indices(len(train_frames), cfg.batch_size, step, cfg.seed,
                               acc.process_index, acc.num_processes)
        x = to_x(train_frames[idx])
        weight = 1 + cfg.foreground_weight * train_masks[idx].to(dev)[:, None].float()
        with acc.autocast():
            with torch.set_grad_enabled(cfg.train_encoder):
                dist = acc.unwrap_model(vae).encode(x).latent_dist
            eps = torch.randn(dist.mean.shape, generator=g).to(dev)
            rec = acc.unwrap_model(vae).decode(dist.mean + dist.std * eps).sample
        err = rec.float() - x
        l_rec = weighted_mean(err.abs() + err ** 2, weight)   # L1 + MSE
        l_kl = dist.kl().mean() / x[0].numel()
        loss = l_rec + cfg.kl_weight * l_kl if cfg.train_encoder else l_rec
        optimizer_step(acc, loss, trained, opt, sched, state, step)
        due, out_of_time = checkpoint_due(state, cfg.steps, cfg.eval_every, cfg.time_limit_s,
                                          started)
        if due:
            row = {"step": state.step, "loss_rec": float(l_rec.detach()),
                   "loss_kl": float(l_kl.detach()), "lr": sched.get_last_lr()[0]}
            val_value = None
            if acc.is_main_process:
                with torch.no_grad():
                    raw = acc.unwrap_model(vae)
                    xv = to_x(val_frames)
                    rv = raw.decode(raw.encode(xv).latent_dist.mean).sample.clamp(-1, 1)
                    sq = ((rv - xv) / 2) ** 2
                    fg = val_masks.to(dev)[:, None].expand_as(sq)
                    mse = float(sq.mean())
                    mse_fg = float(sq[fg].mean()) if fg.any() else mse
                row["val_psnr"] = 10 * np.log10(1.0 / max(mse, 1e-12))
                row["val_psnr_fg"] = 10 * np.log10(1.0 / max(mse_fg, 1e-12))
                val_value = -row["val_psnr_fg" if cfg.foreground_weight > 0 else "val_psnr"]
            row["elapsed_s"] = round(time.monotonic() - started, 1)
            if run.end_step(acc, state, row, val_value, export, out_of_time, cfg.steps):
                break
    return run.path


def load_vae(folder: str):
    """The AutoencoderKL saved in `folder` or in its `vae` subfolder."""
    from diffusers import AutoencoderKL

    path = Path(folder)
    if (path / "vae" / "config.json").is_file():
        path = path / "vae"
    if not (path / "config.json").is_file():
        raise InputError(f"{folder}: no AutoencoderKL here (no config.json in it or in vae/)")
    return AutoencoderKL.from_pretrained(str(path))
