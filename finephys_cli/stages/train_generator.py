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
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..console import log, track
from ..errors import InputError, UsageError
from .training import (RunDir, batch_indices, checkpoint_due, make_accelerator,
                       optimizer_step)

MODES = ("encoder", "lora", "unet")


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
    train_encoder: bool = True
    physnet_weight: float = 1.0      # weight of the L_2D term when PhysNet trains in the loop
    mixed_precision: str = "no"      # no, bf16 or fp16
    gradient_checkpointing: bool = False
    grad_clip: float = 1.0
    eval_every: int = 500
    val_prompt: str = "Switch leap with 0.5 turn"
    val_seed: int = 0
    val_steps: int = 25
    tensorboard: bool = False
    time_limit_s: float = 0.0
    seed: int = 0


@dataclass
class GeneratorParts:
    """Everything the loop needs: frozen parts, trainable parts, schedulers."""
    components: object
    encoder: object
    physnet: object = None
    projection: object = None
    sd15_dir: Path | None = None     # copied around the trained UNet in `unet` mode


def _text_embeddings(comps, prompts: list[str], device) -> tuple[dict[str, object], object]:
    """Frozen text encoder: one embedding per distinct prompt, plus the empty (null) prompt."""
    import torch

    table = {}
    with torch.no_grad():
        for p in sorted(set(prompts) | {""}):
            ids = comps.tokenizer(p, padding="max_length", truncation=True,
                                  max_length=comps.tokenizer.model_max_length,
                                  return_tensors="pt").input_ids.to(device)
            table[p] = comps.text_encoder(ids)[0][0]
    return table, table[""]


def _cache_latents(vae, frames: np.ndarray, device, cache: Path, seed: int):
    """(N,F,S,S,3) uint8 -> (N,4,F,h,w) scaled VAE latents, computed once and kept on disk."""
    import torch

    if cache.is_file():
        lat = torch.load(cache, map_location="cpu")
        if lat.shape[0] == len(frames) and lat.shape[2] == frames.shape[1]:
            return lat
    g = torch.Generator(device="cpu").manual_seed(seed)
    out = []
    with torch.no_grad():
        for clip in frames:
            x = torch.as_tensor(clip, device=device).permute(0, 3, 1, 2).float() / 127.5 - 1
            dist = vae.encode(x.to(vae.dtype)).latent_dist
            eps = torch.randn(dist.mean.shape, generator=g).to(device, dist.mean.dtype)
            z = (dist.mean + dist.std * eps) * vae.config.scaling_factor
            out.append(z.float().permute(1, 0, 2, 3).cpu())
    lat = torch.stack(out)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.name + ".partial")
    torch.save(lat, tmp)
    tmp.replace(cache)
    return lat


def _skeleton(parts: GeneratorParts, data, idx, device, size: int):
    """The skeleton each sample is conditioned on, (b,F,17,2) crop px; through PhysNet (and
    the projection) when it trains in the loop, else the clip's own 2D. Returns (kp, L_2D)."""
    import torch

    kp = torch.as_tensor(data.keypoints[idx], dtype=torch.float32, device=device)
    if parts.physnet is None:
        return kp, None
    dd = torch.as_tensor(data.pose3d_dd[idx], dtype=torch.float32, device=device)
    pp = parts.physnet(dd, sample_noise=False)["s_pp"]
    fused = 0.5 * (dd + pp)
    xy = parts.projection(fused) if parts.projection is not None else fused[..., :2]
    root = torch.as_tensor(data.root2d[idx], dtype=torch.float32, device=device)
    scale = torch.as_tensor(data.scale[idx], dtype=torch.float32, device=device)
    box = torch.as_tensor(data.crop_box[idx], dtype=torch.float32, device=device)
    px = xy * scale[:, None, None, None] + root[:, :, None]
    crop = (px - box[:, None, None, :2]) * (size / box[:, None, None, 2:3])
    l2d = torch.nn.functional.mse_loss(crop / size, kp / size)
    return crop, l2d


def _features(encoder, kp, scores, size: int, levels: list[int]):
    """(b,F,17,2) -> encoder features (b·F, C_i, h_i, w_i), differentiable in kp."""
    from ..generation.conditioning import pose_maps

    b, f = kp.shape[:2]
    full, lv = pose_maps(kp.reshape(b * f, 17, 2), scores.reshape(b * f, 17), size, levels)
    return encoder(full, lv)


def _unet_pred(acc, unet, noisy, t, ehs, feats):
    from ..generation.inject import pose_injection

    f = noisy.shape[2]
    ehs_f = ehs.repeat_interleave(f, dim=0)
    with pose_injection(acc.unwrap_model(unet), feats), acc.autocast():
        return unet(noisy, t, encoder_hidden_states=ehs_f).sample


@dataclass
class Batch:
    idx: np.ndarray
    ehs: object        # (b, seq, dim) text embeddings, null-text dropped
    noise: object      # (b, C, F, h, w)
    t: object          # (b,)
    noisy: object
    scores: object     # (b, F, 17)


@dataclass
class StepContext:
    """What one training step reads: the prepared modules, the data and the frozen caches."""
    acc: object
    unet: object
    encoder: object
    parts: GeneratorParts
    data: object
    cfg: TrainGeneratorConfig
    texts: dict
    null_text: object
    latents: object
    levels: list
    maps: tuple | None = None   # pre-rendered heatmaps (full, levels) per clip, when fixed

    def features(self, b: "Batch", kp, frames: slice):
        """Encoder features of the batch's skeletons for `frames`; from the pre-rendered
        heatmaps when the skeleton is fixed data (no PhysNet in the loop)."""
        if self.maps is None:   # not pre-rendered: PhysNet moves the skeleton, or too large
            return _features(self.encoder, kp[:, frames], b.scores[:, frames], self.size,
                             self.levels)
        import torch

        idx = torch.as_tensor(b.idx)
        full = self.maps[0][idx][:, frames].flatten(0, 1).float()
        lv = [m[idx][:, frames].flatten(0, 1).float() for m in self.maps[1]]
        return self.encoder(full, lv)

    @property
    def size(self) -> int:
        return int(self.data.frames.shape[2])

    def batch(self, idx: np.ndarray, g) -> Batch:
        import torch

        dev = self.acc.device
        ehs = torch.stack([self.null_text if float(torch.rand(1, generator=g)) < self.cfg.null_text
                           else self.texts[self.data.prompts[i]] for i in idx.tolist()])
        z0 = self.latents[torch.as_tensor(idx)].to(dev)
        noise = torch.randn(z0.shape, generator=g).to(dev)
        sched = self.parts.components.noise_scheduler
        t = torch.randint(0, sched.config.num_train_timesteps, (len(idx),), generator=g).to(dev)
        scores = torch.as_tensor(self.data.scores[idx], dtype=torch.float32, device=dev)
        return Batch(idx, ehs, noise, t, sched.add_noise(z0, noise, t), scores)

    def spatial_loss(self, b: Batch, frame: int):
        """L_spat: frame `frame` alone, as a 1-frame clip (eq. 22)."""
        from ..generation.losses import spatial_loss

        kp, _ = _skeleton(self.parts, self.data, b.idx, self.acc.device, self.size)
        sl = slice(frame, frame + 1)
        feats = self.features(b, kp, sl)
        pred = _unet_pred(self.acc, self.unet, b.noisy[:, :, sl], b.t, b.ehs, feats)
        return spatial_loss(pred, b.noise[:, :, sl])

    def temporal_losses(self, b: Batch, anchor: int):
        """(L_temp, L_ad-temp, L_2D or None) on the whole clip (eq. 23-24)."""
        from ..generation.losses import ad_temporal_loss, temporal_loss

        kp, l2d = _skeleton(self.parts, self.data, b.idx, self.acc.device, self.size)
        feats = self.features(b, kp, slice(None))
        pred = _unet_pred(self.acc, self.unet, b.noisy, b.t, b.ehs, feats)
        return (temporal_loss(pred, b.noise), ad_temporal_loss(pred, b.noise, anchor,
                                                               self.cfg.ad_beta), l2d)


def train_step(ctx: StepContext, optimizers: list, step: int) -> dict[str, float]:
    """One step of the configured mode; returns the logged losses."""
    import torch

    from ..generation.lora import lora_mode

    cfg, acc = ctx.cfg, ctx.acc
    idx, g = batch_indices(len(ctx.data), cfg.batch_size, step, cfg.seed, acc.process_index,
                           acc.num_processes)
    b = ctx.batch(idx.numpy(), g)   # numpy indices: a 1-element tensor would index as a scalar
    frames = b.noise.shape[2]
    frame = int(torch.randint(frames, (1,), generator=g))
    anchor = int(torch.randint(frames, (1,), generator=g))
    do_spatial = float(torch.rand(1, generator=g)) >= cfg.spatial_skip
    row: dict[str, float] = {}
    for opt in optimizers:
        opt.zero_grad(set_to_none=True)
    if cfg.mode == "encoder":
        loss = ctx.spatial_loss(b, frame)
        acc.backward(loss)
        row["loss_spat"] = float(loss.detach())
    else:
        raw_unet = acc.unwrap_model(ctx.unet)
        total = 0.0
        if do_spatial:
            if cfg.mode == "lora":
                # MotionDirector: the spatial LoRA (and the encoder) learn from L_spat alone,
                # with the temporal LoRA off, then step before the temporal pass.
                lora_mode(raw_unet, "spatial")
                l_spat = ctx.spatial_loss(b, frame)
                acc.backward(l_spat)
                _step(acc, optimizers[0], cfg.grad_clip)
                optimizers[0].zero_grad(set_to_none=True)
            else:
                l_spat = ctx.spatial_loss(b, frame)
                total = l_spat
            row["loss_spat"] = float(l_spat.detach())
        if cfg.mode == "lora":
            lora_mode(raw_unet, "temporal")
        l_temp, l_ad, l2d = ctx.temporal_losses(b, anchor)
        total = total + l_temp + l_ad
        if l2d is not None:
            total = total + cfg.physnet_weight * l2d
            row["loss_2d"] = float(l2d.detach())
        acc.backward(total)
        row.update(loss_temp=float(l_temp.detach()), loss_ad=float(l_ad.detach()))
        if cfg.mode == "lora":
            lora_mode(raw_unet, "both")
    for opt in optimizers:
        _step(acc, opt, cfg.grad_clip)
    return row


def _step(acc, opt, clip: float) -> None:
    if clip > 0:
        params = [p for grp in opt.param_groups for p in grp["params"] if p.grad is not None]
        if params:
            acc.clip_grad_norm_(params, clip)
    opt.step()


def run_train_generator(cfg: TrainGeneratorConfig, parts_factory, runs: Path, *,
                        command: str, device: str = "cpu", resume: str | None = None,
                        progress: str = "auto", physnet_dir: Path | None = None) -> Path:
    """`parts_factory()` builds the GeneratorParts (loaded or new); the loop is shared."""
    import torch
    from accelerate.utils import DistributedDataParallelKwargs

    from ..generation.lora import add_loras, lora_mode, save_loras
    from ..generation.pipeline import level_sizes
    from ..io.clips import load_clips

    if cfg.mode not in MODES:
        raise UsageError(f"mode must be one of {', '.join(MODES)}, got {cfg.mode!r}")
    if not cfg.clips:
        raise InputError(f"{command} needs --clips (files from finephys prepare-clips)")
    acc = make_accelerator(device, cfg.seed, mixed_precision=cfg.mixed_precision,
                           kwargs_handlers=[DistributedDataParallelKwargs(
                               find_unused_parameters=True)])
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    run = RunDir(runs, command, cfg.name)
    run.start(cfg, acc.is_main_process)
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
    latents = _cache_latents(vae, data.frames, dev, run.path / "cache" / "latents.pt", cfg.seed)
    texts, null_text = _text_embeddings(comps, data.prompts, dev)

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
    state = run.restore(acc, resume)
    writer = _tensorboard(run.path, cfg.tensorboard and acc.is_main_process)
    val_idx = _validation_indices(data, cfg.val_prompt)

    def export(folder: Path) -> None:
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

    maps = _prerender(data, size, levels, dev) if parts.physnet is None else None
    ctx = StepContext(acc, unet, encoder, parts, data, cfg, texts, null_text, latents, levels,
                      maps)
    steps = range(state.step, cfg.steps)
    started = time.monotonic()
    for step in track(steps, total=len(steps), description=command, unit="step",
                      mode=progress if acc.is_main_process else "none"):
        row = train_step(ctx, optimizers, step)
        state.step = step + 1
        due, out_of_time = checkpoint_due(state, cfg.steps, cfg.eval_every, cfg.time_limit_s,
                                          started)
        if writer is not None:
            for k, v in row.items():
                writer.add_scalar(k, v, state.step)
        if due:
            val_value = None
            if acc.is_main_process:
                val_value = _validate(acc, parts, unet, encoder, data, latents, texts, val_idx,
                                      cfg, levels, size, run.path, state.step)
                row["val_loss"] = val_value
            row = {"step": state.step, **row, "elapsed_s": round(time.monotonic() - started, 1)}
            if run.end_step(acc, state, row, val_value, export, out_of_time, cfg.steps):
                break
    if writer is not None:
        writer.close()
    return run.path


def _prerender(data, size: int, levels: list[int], device, budget_gib: float = 8.0):
    """Every clip's heatmaps at every level, rendered once (fp16, on the training device) when
    they fit in `budget_gib`: the skeletons are fixed data unless PhysNet trains."""
    import torch

    from ..generation.conditioning import pose_maps

    n, f = data.keypoints.shape[:2]
    per_frame = 16 * (size * size + sum(s * s for s in levels)) * 2
    if n * f * per_frame > budget_gib * 2 ** 30:
        log.info("heatmaps rendered per step (%.1f GiB would not fit the cache)",
                 n * f * per_frame / 2 ** 30)
        return None
    full, lv = [], [[] for _ in levels]
    with torch.no_grad():
        for i in range(n):
            kp = torch.as_tensor(data.keypoints[i], dtype=torch.float32, device=device)
            sc = torch.as_tensor(data.scores[i], dtype=torch.float32, device=device)
            a, b = pose_maps(kp, sc, size, levels)
            full.append(a.half())
            for k, m in enumerate(b):
                lv[k].append(m.half())
    return torch.stack(full), [torch.stack(m) for m in lv]


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
    from ..data.prompts import match_prompt

    c = match_prompt(prompt)
    hits = np.flatnonzero(data.classes == c.gym99_class) if c else np.zeros(0, int)
    return (hits if len(hits) else np.arange(len(data)))[:4]


def _validate(acc, parts, unet, encoder, data, latents, texts, val_idx, cfg, levels,
              size: int, run_path: Path, step: int) -> float:
    """ε-MSE on the fixed validation samples at fixed noise and t, then one sampled video with
    the fixed seed and prompt, written to val/step-XXXXXXXX.mp4 and .png."""
    import torch

    from ..generation.components import Components
    from ..generation.inject import pose_injection
    from ..generation.pipeline import FinePhysPipeline, SampleSettings
    from ..io.video import write_video
    from ..io.video import strip_image

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
        feats = _features(raw_enc, kp, sc, size, levels)
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


def run_train_autoencoder(cfg: TrainAutoencoderConfig, runs: Path, *, device: str = "cpu",
                          resume: str | None = None, progress: str = "auto") -> Path:
    """A small AutoencoderKL for the offline generator: L1 + MSE reconstruction + a small KL;
    the held-out PSNR (every 16th clip) picks model-best."""
    import torch
    import torch.nn.functional as F

    from ..generation.components import small_vae
    from ..io.clips import load_clips

    if not cfg.clips:
        raise InputError("train-autoencoder needs --clips (files from finephys prepare-clips)")
    acc = make_accelerator(device, cfg.seed, mixed_precision=cfg.mixed_precision)
    run = RunDir(runs, "train-autoencoder", cfg.name)
    run.start(cfg, acc.is_main_process)
    data = load_clips([Path(p) for p in cfg.clips])
    held = np.arange(len(data)) % 16 == 15
    train_frames = torch.from_numpy(data.frames[~held].reshape(-1, *data.frames.shape[2:]))
    val_frames = torch.from_numpy(data.frames[held].reshape(-1, *data.frames.shape[2:])[:64]) \
        if held.any() else train_frames[:64]
    vae = small_vae(cfg.latent_channels, tuple(cfg.channels))
    opt = torch.optim.AdamW(vae.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
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
        with acc.autocast():
            dist = acc.unwrap_model(vae).encode(x).latent_dist
            eps = torch.randn(dist.mean.shape, generator=g).to(dev)
            rec = acc.unwrap_model(vae).decode(dist.mean + dist.std * eps).sample
        rec = rec.float()
        l_rec = F.l1_loss(rec, x) + F.mse_loss(rec, x)
        l_kl = dist.kl().mean() / x[0].numel()
        loss = l_rec + cfg.kl_weight * l_kl
        optimizer_step(acc, loss, vae.parameters(), opt, sched, state, step)
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
                    mse = float(F.mse_loss((rv + 1) / 2, (xv + 1) / 2))
                row["val_psnr"] = 10 * np.log10(1.0 / max(mse, 1e-12))
                val_value = -row["val_psnr"]
            row["elapsed_s"] = round(time.monotonic() - started, 1)
            if run.end_step(acc, state, row, val_value, export, out_of_time, cfg.steps):
                break
    return run.path
