"""The generator's training step, shared by `train-heatmap-encoder` and `train-lora` (§4.1,
eq. 21-24): frozen text and latent caches, the skeleton each sample is conditioned on, its
encoder features (pose-conditioning dropout included) and the three modes' losses.

`stages/train_generator.py` owns the loop around it (run folders, optimizers, EMA, validation).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..console import log
from ..models.physnet import refine_fuse_project

@dataclass
class GeneratorParts:
    """Everything the loop needs: frozen parts, trainable parts, schedulers."""
    components: object
    encoder: object
    physnet: object = None
    projection: object = None
    sd15_dir: Path | None = None     # copied around the trained UNet in `unet` mode


def text_embeddings(comps, prompts: list[str], device) -> tuple[dict[str, object], object]:
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


def cache_latents(vae, frames: np.ndarray, device, cache: Path, seed: int):
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


def conditioning_skeleton(parts: GeneratorParts, data, idx, device, size: int):
    """The skeleton each sample is conditioned on, (b,F,17,2) crop px; through PhysNet (and
    the projection) when it trains in the loop, else the clip's own 2D. Returns (kp, L_2D)."""
    import torch

    kp = torch.as_tensor(data.keypoints[idx], dtype=torch.float32, device=device)
    if parts.physnet is None:
        return kp, None
    dd = torch.as_tensor(data.pose3d_dd[idx], dtype=torch.float32, device=device)
    xy = refine_fuse_project(parts.physnet, parts.projection, dd)["xy"]
    root = torch.as_tensor(data.root2d[idx], dtype=torch.float32, device=device)
    scale = torch.as_tensor(data.scale[idx], dtype=torch.float32, device=device)
    box = torch.as_tensor(data.crop_box[idx], dtype=torch.float32, device=device)
    px = xy * scale[:, None, None, None] + root[:, :, None]
    crop = (px - box[:, None, None, :2]) * (size / box[:, None, None, 2:3])
    l2d = torch.nn.functional.mse_loss(crop / size, kp / size)
    return crop, l2d


def skeleton_features(encoder, kp, scores, size: int, levels: list[int]):
    """(b,F,17,2) -> encoder features (b·F, C_i, h_i, w_i), differentiable in kp."""
    from ..generation.conditioning import pose_maps

    b, f = kp.shape[:2]
    full, lv = pose_maps(kp.reshape(b * f, 17, 2), scores.reshape(b * f, 17), size, levels)
    return encoder(full, lv)


def unet_prediction(acc, unet, noisy, t, ehs, feats, slot=None):
    """The UNet's noise prediction with the skeleton features injected: through hooks added
    for this call, or through a PoseSlot's permanent hooks (a compiled UNet, which would
    recompile for hooks that change)."""
    from ..generation.inject import pose_injection

    f = noisy.shape[2]
    ehs_f = ehs.repeat_interleave(f, dim=0)
    injection = slot.holding(feats) if slot is not None else \
        pose_injection(acc.unwrap_model(unet), feats)
    with injection, acc.autocast():
        return unet(noisy, t, encoder_hidden_states=ehs_f).sample


@dataclass
class Batch:
    idx: np.ndarray
    ehs: object        # (b, seq, dim) text embeddings, null-text dropped
    noise: object      # (b, C, F, h, w)
    t: object          # (b,)
    noisy: object
    scores: object     # (b, F, 17)
    pose_keep: object = None   # (b,) 1.0 where the skeleton conditions the sample, 0.0 where
                               # pose-conditioning dropout turned the encoder off
    weight: object = None      # (b,1,F,h,w) loss weights (foreground_weight), else None


@dataclass
class StepContext:
    """What one training step reads: the prepared modules, the data and the frozen caches."""
    acc: object
    unet: object
    encoder: object
    parts: GeneratorParts
    data: object
    cfg: object          # stages.train_generator.TrainGeneratorConfig
    texts: dict
    null_text: object
    latents: object
    levels: list
    maps: tuple | None = None   # pre-rendered heatmaps (full, levels) per clip, when fixed
    forward_unet: object = None  # the compiled UNet (train-lora --set compile=true), else unet
    slot: object = None          # its PoseSlot
    foreground: object = None    # (N,1,F,h,w) bool latent foreground cells (foreground_weight)

    @property
    def training_unet(self):
        return self.forward_unet if self.forward_unet is not None else self.unet

    def features(self, b: "Batch", kp, frames: slice):
        """Encoder features of the batch's skeletons for `frames`; from the pre-rendered
        heatmaps when the skeleton is fixed data (no PhysNet in the loop)."""
        import torch

        if self.maps is None:   # not pre-rendered: PhysNet moves the skeleton, or too large
            feats = skeleton_features(self.encoder, kp[:, frames], b.scores[:, frames],
                                      self.size, self.levels)
        else:
            idx = torch.as_tensor(b.idx)
            full = self.maps[0][idx][:, frames].flatten(0, 1).float()
            lv = [m[idx][:, frames].flatten(0, 1).float() for m in self.maps[1]]
            feats = self.encoder(full, lv)
        if b.pose_keep is None:
            return feats
        # Features are zero exactly as at sampling with pose-scale 0: the text path alone has
        # to draw the performer on these samples (classifier-free training of the pose).
        keep = b.pose_keep.repeat_interleave(feats[0].shape[0] // len(b.idx))
        return [f * keep.to(f.dtype)[:, None, None, None] for f in feats]

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
        keep = None
        if self.cfg.pose_dropout > 0:   # drawn last, so pose_dropout=0 keeps the old stream
            keep = (torch.rand(len(idx), generator=g) >= self.cfg.pose_dropout).float().to(dev)
        weight = None
        if self.foreground is not None:
            cells = self.foreground[torch.as_tensor(idx)].to(dev)
            weight = 1 + self.cfg.foreground_weight * cells.float()
        return Batch(idx, ehs, noise, t, sched.add_noise(z0, noise, t), scores, keep, weight)

    def spatial_loss(self, b: Batch, frame: int):
        """L_spat: frame `frame` alone, as a 1-frame clip (eq. 22)."""
        from ..generation.losses import spatial_loss

        kp, _ = conditioning_skeleton(self.parts, self.data, b.idx, self.acc.device, self.size)
        sl = slice(frame, frame + 1)
        feats = self.features(b, kp, sl)
        # With LoRA, this pass runs with the temporal adapter switched off: a compiled UNet
        # does not follow peft's adapter switches reliably (wrong losses after the first
        # switch, PEFT's torch.compile guide), so only the temporal pass, in one fixed adapter
        # state, goes through the compiled graph: 16 of the 17 frames a step runs the UNet on.
        compiled = self.cfg.mode != "lora"
        pred = unet_prediction(self.acc, self.training_unet if compiled else self.unet,
                               b.noisy[:, :, sl], b.t, b.ehs, feats,
                               self.slot if compiled else None)
        return spatial_loss(pred, b.noise[:, :, sl],
                            None if b.weight is None else b.weight[:, :, sl])

    def temporal_losses(self, b: Batch, anchor: int):
        """(L_temp, L_ad-temp, L_2D or None) on the whole clip (eq. 23-24)."""
        from ..generation.losses import ad_temporal_loss, temporal_loss

        kp, l2d = conditioning_skeleton(self.parts, self.data, b.idx, self.acc.device, self.size)
        feats = self.features(b, kp, slice(None))
        pred = unet_prediction(self.acc, self.training_unet, b.noisy, b.t, b.ehs, feats,
                               self.slot)
        return (temporal_loss(pred, b.noise, b.weight),
                ad_temporal_loss(pred, b.noise, anchor, self.cfg.ad_beta, b.weight), l2d)


def train_step(ctx: StepContext, optimizers: list, idx: np.ndarray, g) -> dict[str, float]:
    """One step of the configured mode on the clips `idx`, drawing its randomness from the
    generator `g`; returns the logged losses."""
    import torch

    from ..generation.lora import lora_mode

    cfg, acc = ctx.cfg, ctx.acc
    b = ctx.batch(np.asarray(idx), g)   # numpy indices: a 1-element tensor indexes as a scalar
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
                clipped_step(acc, optimizers[0], cfg.grad_clip)
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
        clipped_step(acc, opt, cfg.grad_clip)
    return row


def clipped_step(acc, opt, clip: float) -> None:
    if clip > 0:
        params = [p for grp in opt.param_groups for p in grp["params"] if p.grad is not None]
        if params:
            acc.clip_grad_norm_(params, clip)
    opt.step()



def prerender_heatmaps(data, size: int, levels: list[int], device, budget_gib: float = 8.0):
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


