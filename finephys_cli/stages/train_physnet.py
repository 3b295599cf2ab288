"""`train-physnet`: eq. 19 pre-training on 3D data and eq. 20 fine-tuning on 2D-only data,
for PhysNet or the MLP ablation, with the lifter frozen (default) or trained jointly."""

from __future__ import annotations

from dataclasses import dataclass, field
import time
from pathlib import Path

import numpy as np

from ..console import log, track
from ..data.lift_data import clip_windows, load_training_clips
from ..errors import InputError, UsageError
from ..models.physnet import (ROLLOUTS, MLPRefiner, MLPRefinerConfig, PhysNet, PhysNetConfig,
                              Projection, refine_fuse_project)
from ..data.lift_data import split_clips, windows_of
from .training import (RunDir, batch_indices, checkpoint_due, make_accelerator,
                       optimizer_step)
from ..models.lifter import InContextLifter
from ..models.registry import resolve_model


@dataclass
class TrainPhysnetConfig:
    data: tuple[str, ...] = ()
    lifter: str | None = None          # default: the shipped lifter
    name: str = "physnet"
    stage: str = "pretrain"            # pretrain (eq. 19) or finetune (eq. 20)
    model_type: str = "physnet"        # physnet or mlp (the Table 2 ablation)
    init: str | None = None            # start from this PhysNet folder (fine-tuning)
    joint_lift: bool = False           # also train the lifter (pre-training, one process)
    # Fine-tuning only: 3D data (as --data of pre-training) whose eq. 19 loss, times
    # anchor_weight, is added to eq. 20 at every step, so the 2D fit cannot pull the 3D away
    # (eq. 20 alone made our 3D much worse; see the PhysNet model card).
    anchor_data: tuple[str, ...] = ()
    anchor_weight: float = 1.0
    steps: int = 3000
    batch_size: int = 64
    lr: float = 5e-4
    weight_decay: float = 1e-2
    # λ of L_noise = Σ_t ‖N_t‖_F. None: the paper's, eq. 19-20 add L_noise to the *sum* of
    # squared joint errors over T·17, and our data term is their mean, so λ = 1 / (T·17).
    noise_weight: float | None = None
    # λ_v of a velocity twin of eq. 19 (a departure, 0 = the paper): the same squared error on
    # the frame-to-frame displacements of the fused skeleton, added to the 3D data term (so
    # also to the fine-tuning anchor). Eq. 19 alone leaves S_pp jerkier than S_dd.
    velocity_weight: float = 0.0
    # λ_pp: the same 3D data term (with λ_v) on S_pp itself, added to eq. 19's on the fusion (a
    # departure, 0 = the paper). With the fusion alone in the loss, S_pp is free to be any
    # 2·S − S_dd, so it learns to cancel S_dd's training-set errors rather than to estimate.
    pp_weight: float = 0.0
    seed: int = 0
    time_limit_s: float = 0.0          # > 0: stop, checkpointed, after this long (Slurm walltime)
    val_fraction: float = 0.1
    eval_every: int = 250
    stride: int = 8
    physnet: PhysNetConfig = field(default_factory=PhysNetConfig)
    mlp: MLPRefinerConfig = field(default_factory=MLPRefinerConfig)


def eq19_data_term(fused, target, valid, velocity_weight: float = 0.0):
    """Eq. 19's data term: the squared joint error of the fused skeleton (B, T, 17, 3) over the
    valid frames (B, T), per joint; plus `velocity_weight` times the same error of the
    frame-to-frame displacements, over pairs of valid frames (our departure, 0 = the paper)."""
    mask = valid[..., None].float()
    err = ((fused - target) ** 2).sum(-1)
    data = (err * mask).sum() / mask.sum().clamp_min(1) / 17
    if velocity_weight:
        step_err = ((fused.diff(dim=1) - target.diff(dim=1)) ** 2).sum(-1)
        step_mask = mask[:, 1:] * mask[:, :-1]
        data = data + velocity_weight * (
            (step_err * step_mask).sum() / step_mask.sum().clamp_min(1) / 17)
    return data


def precompute_dd(lifter, query: np.ndarray, device: str, batch: int = 512) -> np.ndarray:
    import torch

    out = []
    with torch.inference_mode():
        for s in range(0, len(query), batch):
            q = torch.as_tensor(query[s:s + batch], dtype=torch.float32, device=device)
            out.append(lifter.lift(q)[0].float().cpu().numpy())
    return np.concatenate(out)


def lifted_windows(lifter, win: dict[str, np.ndarray], frames: int, device: str
                   ) -> dict[str, np.ndarray]:
    """Lifter-length windows -> their S_dd (`dd`), then each window cut into consecutive
    `frames`-long pieces (a remainder shorter than `frames` is dropped), keeping the
    per-frame arrays (query, target, valid, dd)."""
    win = {**win, "dd": precompute_dd(lifter, win["query"], device)}
    keys = [k for k in ("query", "target", "valid", "dd") if k in win]
    n, length = win["query"].shape[:2]
    pieces = length // frames
    return {k: win[k][:, :pieces * frames].reshape((n * pieces, frames) + win[k].shape[2:])
            for k in keys}


def windows_2d(clips, frames: int, stride: int) -> dict[str, np.ndarray]:

    parts = [clip_windows(c, frames, stride) for c in clips]
    return {k: np.concatenate([p[k] for p in parts]) for k in ("query", "valid")}


def anchor_clips(specs, val_clips, seed: int) -> list:
    """The 3D clips of `anchor_data` less the validation clips of --data: a paired file
    (DETECT.h5+TRUTH.h5) has the same video ids as its 2D, and their 3D must not reach the
    clips that pick the best checkpoint."""
    held_out = {c.video_id for c in val_clips}
    return [c for c in load_training_clips(list(specs), seed=seed) if c.video_id not in held_out]


def run_train_physnet(cfg: TrainPhysnetConfig, runs: Path, *, device: str = "cpu",
                      resume: str | None = None, progress: str = "auto") -> Path:
    import torch


    if not cfg.data:
        raise InputError("train-physnet needs --data")
    if cfg.stage not in ("pretrain", "finetune"):
        raise UsageError(f"--stage must be pretrain or finetune, got {cfg.stage!r}")
    if cfg.physnet.rollout not in ROLLOUTS:
        raise UsageError(f"train-physnet config: physnet.rollout {cfg.physnet.rollout!r} must be "
                         f"{' or '.join(ROLLOUTS)} (with --init, the folder's own config.json "
                         f"sets it)")
    if cfg.joint_lift and cfg.stage != "pretrain":
        raise UsageError("joint_lift trains the lifter by eq. 19 and is for --stage pretrain; "
                         "eq. 20 fine-tunes PhysNet and P alone")
    acc = make_accelerator(device, cfg.seed)
    if cfg.joint_lift and acc.num_processes > 1:
        # lift() is called on the unwrapped lifter, so DDP would not reduce its gradients
        raise UsageError("joint_lift runs on one process; launch without several GPUs")
    run = RunDir(runs, "train-physnet", cfg.name)
    run.refuse_existing(resume, acc.is_main_process)
    dev = str(acc.device)
    lifter = InContextLifter.from_pretrained(resolve_model("lifter", Path(cfg.lifter)
                                                           if cfg.lifter else None), device=dev)
    if cfg.model_type == "physnet":
        model = PhysNet.from_pretrained(Path(cfg.init), device="cpu").train() if cfg.init \
            else PhysNet(cfg.physnet)
    elif cfg.model_type == "mlp":
        model = MLPRefiner.from_pretrained(Path(cfg.init), device="cpu").train() if cfg.init \
            else MLPRefiner(cfg.mlp)
    else:
        raise UsageError(f"--model-type must be physnet or mlp, got {cfg.model_type!r}")
    # The lifter lifts windows of its own length; the refiner is trained on windows of the
    # length `physnet` runs it on (its config's frames), cut from those.
    frames, lift_frames = model.config.frames, lifter.config.frames
    if cfg.joint_lift and frames != lift_frames:
        raise UsageError(f"joint_lift trains the lifter on the refiner's {frames}-frame windows; "
                         f"the lifter's are {lift_frames}: give a lifter of {frames} frames")
    if frames > lift_frames:
        raise UsageError(f"the {cfg.model_type} model runs on {frames}-frame windows, longer than "
                         f"the lifter's {lift_frames}: give a lifter with windows of at least "
                         f"{frames} frames, or set the model's frames to at most {lift_frames}")
    clips = load_training_clips(list(cfg.data), seed=cfg.seed)
    train_clips, val_clips = split_clips(clips, cfg.val_fraction, cfg.seed)
    cut = windows_of if cfg.stage == "pretrain" else windows_2d
    win = lifted_windows(lifter, cut(train_clips, lift_frames, cfg.stride), frames, dev)
    val = lifted_windows(lifter, cut(val_clips, lift_frames, lift_frames), frames, dev) \
        if val_clips else None
    anchor = None
    if cfg.anchor_data:
        if cfg.stage != "finetune":
            raise UsageError("--set anchor_data=... is for --stage finetune")
        anchor = lifted_windows(lifter, windows_of(anchor_clips(cfg.anchor_data, val_clips,
                                                                cfg.seed), lift_frames,
                                                    cfg.stride), frames, dev)
        anchor = {k: torch.as_tensor(v) for k, v in anchor.items()}
    log.info("train-physnet (%s, %s): %d windows", cfg.stage, cfg.model_type, len(win["query"]))
    # config.toml is written once every check above has passed (a refused config must not
    # replace a run's record)
    run.start(cfg, acc.is_main_process, resume, refuse_existing=False)
    proj = Projection()
    params = list(model.parameters()) + list(proj.parameters())
    if cfg.joint_lift:
        lifter.train()
        params += list(lifter.parameters())
    else:
        lifter.requires_grad_(False)
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(cfg.steps, 1))
    model, proj, lifter, opt, sched = acc.prepare(model, proj, lifter, opt, sched)
    state = run.restore(acc, resume)
    tensors = {k: torch.as_tensor(v) for k, v in win.items()}
    raw_lifter = acc.unwrap_model(lifter)
    noise_weight = cfg.noise_weight if cfg.noise_weight is not None else 1.0 / (frames * 17)

    def compute_loss(batch: dict, sample_noise: bool = True, stage: str = cfg.stage):
        q = batch["query"].float()
        s_dd = batch["dd"].float() if not cfg.joint_lift else raw_lifter.lift(q)[0]
        # P only where its output reaches the loss (eq. 20): an unused prepared module
        # would stall DDP's gradient reduction.
        out = refine_fuse_project(model, proj if stage == "finetune" else None, s_dd,
                                  sample_noise=sample_noise)
        fused = out["fused"]
        if stage == "pretrain":
            data = eq19_data_term(fused, batch["target"].float(), batch["valid"],
                                  cfg.velocity_weight)
        else:
            w = q[..., 2] * batch["valid"][..., None].float()                   # eq. 20
            err = ((out["xy"] - q[..., :2]) ** 2).sum(-1)
            data = (err * w).sum() / w.sum().clamp_min(1e-6)
        noise = out["noise_fro"].sum(1).mean()
        # λ_pp's term is kept out of `data`: validation ranks checkpoints by the fusion alone.
        pp = cfg.pp_weight * eq19_data_term(out["s_pp"], batch["target"].float(),
                                            batch["valid"], cfg.velocity_weight) \
            if cfg.pp_weight and stage == "pretrain" else 0.0
        return data + pp + noise_weight * noise, data, noise, pp

    def evaluate() -> float:
        model.eval()
        total, n = 0.0, 0
        with torch.no_grad():
            for s in range(0, len(val["query"]), 256):
                batch = {k: torch.as_tensor(v[s:s + 256]).to(dev) for k, v in val.items()}
                data = compute_loss(batch, sample_noise=False)[1]
                total += float(data) * len(batch["query"])
                n += len(batch["query"])
        model.train()
        return total / max(n, 1)

    def export(folder: Path) -> None:
        from safetensors.torch import save_file

        acc.unwrap_model(model).save_pretrained(folder, extra={"trained_steps": state.step,
                                                               "stage": cfg.stage})
        save_file({k: v.detach().cpu() for k, v in acc.unwrap_model(proj).state_dict().items()},
                  str(Path(folder) / "projection.safetensors"))

    steps = range(state.step, cfg.steps)
    started = time.monotonic()
    for step in track(steps, total=len(steps), description="train-physnet", unit="step",
                      mode=progress if acc.is_main_process else "none"):
        idx, _ = batch_indices(len(tensors["query"]), cfg.batch_size, step, cfg.seed,
                               acc.process_index, acc.num_processes)
        batch = {k: v[idx].to(dev) for k, v in tensors.items()}
        loss, data, noise, _ = compute_loss(batch)
        if anchor is not None:
            aidx, _ = batch_indices(len(anchor["query"]), cfg.batch_size, step, cfg.seed + 1,
                                    acc.process_index, acc.num_processes)
            # eq. 19's data term (and λ_pp's) only: L_noise is already in the eq. 20 loss, once.
            _, a_data, _, a_pp = compute_loss({k: v[aidx].to(dev) for k, v in anchor.items()},
                                              stage="pretrain")
            loss = loss + cfg.anchor_weight * (a_data + a_pp)
        optimizer_step(acc, loss, params, opt, sched, state, step)
        due, out_of_time = checkpoint_due(state, cfg.steps, cfg.eval_every, cfg.time_limit_s,
                                          started)
        if due:
            row = {"step": state.step, "loss": float(loss.detach()), "data": float(data.detach()),
                   "noise": float(noise.detach())}
            val_value = None
            if val is not None and acc.is_main_process:
                row["val_data"] = val_value = evaluate()
            if run.end_step(acc, state, row, val_value, export, out_of_time, cfg.steps):
                break
    return run.path
