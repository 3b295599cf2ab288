"""CLIP-SIM (eq. 27-29), CLIP-SIM* (eq. 25, 31) and PickScore (eq. 32-33) of `score`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...console import track
from ...io.fingerprint import model_fingerprint as fingerprint
from ...io import manifest
from .context import ScoreContext, Skip
from .inputs import VideoItem, model_path
from .report import summary as _summary
from ...metrics.clip_sim import (ClipEmbedder, domain_score, pickscore as pick_score,
                                 reference_anchor_indices, smooth_score, smooth_star, text_score)


def _clip(ctx: ScoreContext):
    if ctx.clip is None:
        from ...metrics.clip_sim import ClipEmbedder

        path = model_path("clip", ctx.models.get("clip"))
        ctx.clip = ClipEmbedder.load(path, device=ctx.device)
        ctx.clip_path = path
    return ctx.clip


def _embedding(ctx: ScoreContext, key: str, item: VideoItem) -> np.ndarray | None:
    """CLIP embeddings of a video's frames, computed once a chunk at a time and kept (they are
    small; frames are not); None for a video that cannot be read."""
    if key not in ctx.clip_cache:
        emb = ctx.embed(item, ctx.clip.images)
        if emb is None:
            return None
        ctx.clip_cache[key] = emb
    return ctx.clip_cache[key]


def _clip_protocol(ctx: ScoreContext) -> dict:
    emb = ctx.clip
    return {"model": str(ctx.clip_path), "sha256": fingerprint(ctx.clip_path),
            "image_processor": type(emb.processor.image_processor).__name__}


def clip_sim(ctx: ScoreContext) -> None:

    emb = _clip(ctx)
    cfg, per_video = ctx.cfg, ctx.per_video
    domain_refs = _domain_images(ctx) if ctx.domain_images else None
    texts = {}
    for it in track(ctx.items, description="clip-sim", unit="video", mode=ctx.progress):
        f = _embedding(ctx, it.name, it)
        if f is None:
            continue
        row = per_video[it.name]
        if it.prompt:
            if it.prompt not in texts:
                texts[it.prompt] = emb.texts([it.prompt])[0]
            row["clip_text"] = text_score(f, texts[it.prompt])
        row["clip_smooth"] = smooth_score(f, cfg.smooth_pairs)
        if domain_refs is not None:
            refs = domain_refs.get(str(it.gym_class), domain_refs.get("*"))
            if refs is not None:
                row["clip_domain"] = domain_score(f, refs)
    rows = list(per_video.values())
    ctx.results["metrics"]["clip-sim"] = {
        "text_x100": _summary([r.get("clip_text") for r in rows]),
        "domain": _summary([r.get("clip_domain") for r in rows]),
        "smooth": _summary([r.get("clip_smooth") for r in rows]),
        "protocol": {**_clip_protocol(ctx), "text": "mean_t 100·cos(frame, prompt) (eq. 27)",
                     "domain": "mean_t,j cos(frame, reference image j) (eq. 28)"
                     if domain_refs is not None else "skipped: no --domain-images",
                     "smooth": f"mean cos over {cfg.smooth_pairs} frame pairs (eq. 29)"}}


def _domain_images(ctx: ScoreContext) -> dict[str, np.ndarray]:
    """--domain-images DIR: images per class in DIR/<class id>/, or flat images for all."""
    from PIL import Image

    root = Path(ctx.domain_images)
    groups: dict[str, list[Path]] = {}
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() in manifest.IMAGE_EXTS:
            key = p.parent.name if p.parent != root else "*"
            groups.setdefault(key, []).append(p)
    if not groups:
        raise Skip(f"--domain-images {root}: no images")
    return {k: ctx.clip.images(np.stack([np.asarray(Image.open(p).convert("RGB").resize(
        (224, 224))) for p in v])) for k, v in groups.items()}


def _references_by_class(ctx: ScoreContext) -> dict[int, list[VideoItem]]:
    refs = ctx.refs
    if not refs:
        raise Skip("needs --reference REAL_DIR (real videos of the same classes)")
    by: dict[int, list[VideoItem]] = {}
    for r in refs:
        if r.gym_class is not None:
            by.setdefault(int(r.gym_class), []).append(r)
    return by


def clip_sim_star(ctx: ScoreContext) -> None:

    _clip(ctx)
    cfg, per_video = ctx.cfg, ctx.per_video
    by_class = _references_by_class(ctx)
    chosen: dict[str, list[str]] = {}
    for it in track(ctx.items, description="clip-sim*", unit="video", mode=ctx.progress):
        pool = by_class.get(int(it.gym_class)) if it.gym_class is not None else None
        if not pool:
            continue
        key = str(it.gym_class)
        if key not in chosen:   # deterministic: seeded by (seed, class), sorted names
            rng = np.random.default_rng([cfg.seed, int(it.gym_class)])
            names = sorted(r.name for r in pool)
            pick = rng.choice(len(names), size=min(cfg.star_references, len(names)),
                              replace=False)
            chosen[key] = [names[i] for i in sorted(pick)]
        ref_embs = [e for e in (_embedding(ctx, "ref:" + name,
                                           next(r for r in pool if r.name == name))
                                for name in chosen[key]) if e is not None]
        if not ref_embs:
            continue
        f = _embedding(ctx, it.name, it)
        if f is None:
            continue
        anchors = np.concatenate([e[reference_anchor_indices(len(e))] for e in ref_embs])
        row = per_video[it.name]
        row["clip_star_domain"] = domain_score(f, anchors)
        ks = [smooth_star(f, ref_embs, k) for k in cfg.star_ks]
        for k, v in zip(cfg.star_ks, ks):
            row[f"clip_star_smooth_k{k}"] = v
        row["clip_star_smooth"] = float(np.mean(ks))
    rows = list(per_video.values())
    if not any("clip_star_domain" in r for r in rows):
        raise Skip("no generated video has a class with reference videos")
    ctx.results["metrics"]["clip-sim-star"] = {
        "domain": _summary([r.get("clip_star_domain") for r in rows]),
        "smooth": _summary([r.get("clip_star_smooth") for r in rows]),
        **{f"smooth_k{k}": _summary([r.get(f"clip_star_smooth_k{k}") for r in rows])
           for k in cfg.star_ks},
        "protocol": {**_clip_protocol(ctx), "references": chosen,
                     "reference_choice": "M per class, numpy default_rng([seed, class]) over "
                                         "sorted names",
                     "domain": "mean over frames and the start/middle/end frames "
                               "(0, (T-1)//2, T-1) of each reference (eq. 25)",
                     "smooth": "K frames at segment centres of both videos, frame k vs frame "
                               "k, mean over k and references (eq. 31); reported per K and "
                               "averaged over K"}}


def pickscore(ctx: ScoreContext) -> None:
    path = model_path("pickscore", ctx.models.get("pickscore"))
    proc = ctx.models.get("pickscore_processor")
    emb = ClipEmbedder.load(path, proc, device=ctx.device)
    scale = emb.logit_scale
    prompted = [it for it in ctx.items if it.prompt]
    for it in track(prompted, description="pickscore", unit="video", mode=ctx.progress):
        f = ctx.embed(it, emb.images)
        if f is None:
            continue
        ctx.per_video[it.name]["pickscore"] = pick_score(f, emb.texts([it.prompt])[0], scale)
    rows = list(ctx.per_video.values())
    if not any("pickscore" in r for r in rows):
        raise Skip("no prompts (sidecars or --prompts)")
    ctx.results["metrics"]["pickscore"] = {
        "score": _summary([r.get("pickscore") for r in rows]),
        "protocol": {"model": str(path), "sha256": fingerprint(path), "logit_scale_exp": scale,
                     "formula": "mean_t exp(logit_scale)·cos(prompt, frame) (eq. 32-33)"}}
