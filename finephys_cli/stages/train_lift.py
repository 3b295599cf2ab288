"""`train-lift`: the in-context lifter on (2D, 3D) clips (eq. 4-5), with accelerate."""

from __future__ import annotations

from dataclasses import dataclass, field
import time
from pathlib import Path

import numpy as np

from ..metrics.pose_losses import lift_loss, mpjpe_loss, scaled_mpjpe_loss, velocity_loss
from ..console import log, track
from ..data.lift_data import load_training_clips, split_clips, windows_of
from ..errors import InputError
from ..models.lifter import InContextLifter, LifterConfig, flip_normalised
from .training import (RunDir, batch_indices, checkpoint_due, make_accelerator,
                       optimizer_step)


@dataclass
class TrainLiftConfig:
    data: tuple[str, ...] = ()
    name: str = "lift"
    steps: int = 3000
    batch_size: int = 64
    lr: float = 5e-4
    weight_decay: float = 1e-2
    seed: int = 0
    time_limit_s: float = 0.0          # > 0: stop, checkpointed, after this long (Slurm walltime)
    val_fraction: float = 0.1
    eval_every: int = 250
    stride: int = 8
    flip_prob: float = 0.5
    # Prompts in training as at inference: the nearest bank entry in 2D (never from the same
    # clip), or a random entry as in Skeleton-in-Context.
    train_prompt: str = "nearest"
    loss_weights: tuple[float, float, float] = (1.0, 0.5, 20.0)  # MPJPE, N-MPJPE, velocity
    # Camera augmentation, so that inverted and tilted views are seen: a roll about the view
    # axis (exact in image-aligned coordinates: 2D and 3D turn together) and a pitch about the
    # image x axis (weak perspective; the 2D, noise included, moves with the truth's projection).
    roll_prob: float = 0.5
    roll_deg: float = 180.0
    pitch_deg: float = 20.0
    # Missing-joint augmentation: joints, and whole frames, dropped as a detector drops them
    # (x, y, score all 0: the lifter's mask by confidence).
    joint_drop: float = 0.05
    frame_drop: float = 0.03
    model: LifterConfig = field(default_factory=LifterConfig)
    # Fine-tune a trained lifter folder instead of a new model: its architecture, weights, eq. 4
    # prior and prompt bank are kept (`model` is then ignored).
    init_from: str | None = None


def augment_views(q, t, g, cfg: "TrainLiftConfig"):
    """Roll, pitch and dropped joints for one batch of normalised windows (B,F,17,3)."""
    import math

    import torch

    b = q.shape[0]
    dev = q.device

    def uniform(limit_deg: float):
        return ((torch.rand(b, generator=g) * 2 - 1) * math.radians(limit_deg)).to(dev)

    present = q[..., 2:3] > 0
    roll = torch.where((torch.rand(b, generator=g) < cfg.roll_prob).to(dev),
                       uniform(cfg.roll_deg), torch.zeros(b, device=dev))
    c, s = roll.cos()[:, None, None], roll.sin()[:, None, None]

    def turn(xy):
        return torch.stack([c * xy[..., 0] - s * xy[..., 1], s * xy[..., 0] + c * xy[..., 1]], -1)

    q = torch.cat([torch.where(present, turn(q[..., :2]), q[..., :2]), q[..., 2:]], -1)
    t = torch.cat([turn(t[..., :2]), t[..., 2:]], -1)
    pitch = uniform(cfg.pitch_deg)
    cp, sp = pitch.cos()[:, None, None], pitch.sin()[:, None, None]
    y_new = cp * t[..., 1] - sp * t[..., 2]
    z_new = sp * t[..., 1] + cp * t[..., 2]
    q = torch.stack([q[..., 0], torch.where(present[..., 0], q[..., 1] + y_new - t[..., 1],
                                            q[..., 1]), q[..., 2]], -1)
    t = torch.stack([t[..., 0], y_new, z_new], -1)
    drop = (torch.rand(q.shape[:3], generator=g) < cfg.joint_drop) \
        | (torch.rand(q.shape[:2], generator=g) < cfg.frame_drop)[..., None]
    q = torch.where(drop.to(dev)[..., None], torch.zeros_like(q), q)
    return q, t


def build_bank(model: InContextLifter, win: dict[str, np.ndarray], seed: int) -> np.ndarray:
    """Fill the prompt bank with ground-truth (2D, 3D) training windows and set the eq. 4 prior.
    Returns the clip index of each bank entry."""
    import torch

    rng = np.random.default_rng(seed)
    k = model.config.bank_size
    pick = rng.choice(len(win["target"]), size=min(k, len(win["target"])), replace=False)
    tgt = torch.as_tensor(win["target"][pick], dtype=torch.float32)
    gt2d = torch.cat([tgt[..., :2], torch.ones_like(tgt[..., :1])], -1)
    model.bank_2d.zero_()
    model.bank_3d.zero_()
    model.bank_2d[: len(pick)] = gt2d
    model.bank_3d[: len(pick)] = tgt
    allt = torch.as_tensor(win["target"], dtype=torch.float32)
    model.mean_prior.copy_((allt - allt[..., :1, :]).mean(0))
    return win["clip"][pick] if "clip" in win else np.full(len(pick), -1)


def evaluate_lifter(model, win: dict[str, np.ndarray], device: str, batch: int = 256,
                    use_prompt: bool = True, prompt: str = "nearest") -> dict[str, float]:
    import torch

    model.eval()
    sums = {"mpjpe": 0.0, "n_mpjpe": 0.0, "mpjve": 0.0}
    n = 0
    with torch.no_grad():
        for s in range(0, len(win["query"]), batch):
            q = torch.as_tensor(win["query"][s:s + batch], dtype=torch.float32, device=device)
            t = torch.as_tensor(win["target"][s:s + batch], dtype=torch.float32, device=device)
            m = torch.as_tensor(win["valid"][s:s + batch], device=device)
            pred = model.lift(q, prompt)[0] if use_prompt else model(q)
            pr, tr = pred - pred[..., :1, :], t - t[..., :1, :]
            b = len(q)
            sums["mpjpe"] += float(mpjpe_loss(pr, tr, m)) * b
            sums["n_mpjpe"] += float(scaled_mpjpe_loss(pr, tr, m)) * b
            sums["mpjve"] += float(velocity_loss(pred, t, m)) * b
            n += b
    model.train()
    return {k: v / max(n, 1) for k, v in sums.items()}


def run_train_lift(cfg: TrainLiftConfig, runs: Path, *, device: str = "cpu",
                   resume: str | None = None, allow_reserved: bool = False,
                   progress: str = "auto") -> Path:
    import torch

    if not cfg.data:
        raise InputError("train-lift needs --data (a synth file, h36m:DIR or amass:FILE)")
    acc = make_accelerator(device, cfg.seed)
    # Read first: a missing or unusable --data leaves no run folder behind.
    clips = load_training_clips(list(cfg.data), allow_reserved, cfg.seed)
    run = RunDir(runs, "train-lift", cfg.name)
    run.start(cfg, acc.is_main_process, resume)
    train_clips, val_clips = split_clips(clips, cfg.val_fraction, cfg.seed)
    model = InContextLifter.from_pretrained(Path(cfg.init_from)).train() if cfg.init_from \
        else InContextLifter(cfg.model)
    frames = model.config.frames
    win = windows_of(train_clips, frames, cfg.stride)
    val = windows_of(val_clips, frames, frames) if val_clips else None
    log.info("train-lift: %d train windows, %d val windows%s", len(win["query"]),
             0 if val is None else len(val["query"]),
             f", fine-tuning {cfg.init_from}" if cfg.init_from else "")
    # A fine-tuned model keeps its bank, whose entries come from no clip of this data.
    bank_clip = torch.full((model.config.bank_size,), -1) if cfg.init_from else \
        torch.as_tensor(build_bank(model, win, cfg.seed))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(cfg.steps, 1))
    model, opt, sched = acc.prepare(model, opt, sched)
    state = run.restore(acc, resume)
    dev = acc.device
    q_all = torch.as_tensor(win["query"], dtype=torch.float32)
    t_all = torch.as_tensor(win["target"], dtype=torch.float32)
    v_all = torch.as_tensor(win["valid"])
    c_all = torch.as_tensor(win["clip"])
    if cfg.train_prompt not in ("nearest", "random"):
        raise InputError(f"train_prompt must be nearest or random, got {cfg.train_prompt!r}")
    raw = acc.unwrap_model(model)
    # A kept bank (init_from) is whole; a new one holds at most one entry per window.
    bank_n = raw.config.bank_size if cfg.init_from else min(raw.config.bank_size, len(q_all))

    def export(folder: Path) -> None:
        acc.unwrap_model(model).save_pretrained(folder, extra={"trained_steps": state.step})

    steps = range(state.step, cfg.steps)
    started = time.monotonic()
    for step in track(steps, total=len(steps), description="train-lift", unit="step",
                      mode=progress if acc.is_main_process else "none"):
        idx, g = batch_indices(len(q_all), cfg.batch_size, step, cfg.seed, acc.process_index,
                               acc.num_processes)
        q, t, m = q_all[idx].to(dev), t_all[idx].to(dev), v_all[idx].to(dev)
        flip = (torch.rand(len(idx), generator=g) < cfg.flip_prob).to(dev)
        q = torch.where(flip[:, None, None, None], flip_normalised(q), q)
        t = torch.where(flip[:, None, None, None], flip_normalised(t), t)
        q, t = augment_views(q, t, g, cfg)
        pidx = torch.randint(bank_n, (len(idx),), generator=g).to(dev)
        if cfg.train_prompt == "nearest" and raw.config.use_prompt:
            with torch.no_grad():
                bank = raw.bank_2d[:bank_n, :, :, :2]
                dist = ((q[:, None, :, :, :2] - bank[None]) * q[:, None, :, :, 2:3]).pow(2).sum(
                    dim=(2, 3, 4))
                same = c_all[idx].to(dev)[:, None] == bank_clip[:bank_n].to(dev)[None]
                pidx = dist.masked_fill(same, float("inf")).argmin(1)
        if raw.config.use_prompt:
            pred = model(q, raw.bank_2d[pidx], raw.bank_3d[pidx])
        else:
            pred = model(q)
        loss = lift_loss(pred, t, m, cfg.loss_weights)
        optimizer_step(acc, loss, model.parameters(), opt, sched, state, step)
        due, out_of_time = checkpoint_due(state, cfg.steps, cfg.eval_every, cfg.time_limit_s,
                                          started)
        if due:
            row = {"step": state.step, "loss": float(loss.detach()), "lr": sched.get_last_lr()[0]}
            val_value = None
            if val is not None and acc.is_main_process:
                metrics = evaluate_lifter(raw, val, str(dev), prompt=cfg.train_prompt)
                row.update({f"val_{k}": v for k, v in metrics.items()})
                val_value = metrics["mpjpe"]
            if run.end_step(acc, state, row, val_value, export, out_of_time, cfg.steps):
                break
    return run.path
