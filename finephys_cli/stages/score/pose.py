"""Pose fidelity of `score`: does the video follow the skeleton it was conditioned on?"""

from __future__ import annotations

from ...console import log, track
from ...errors import InputError
from .context import ScoreContext, Skip
from .report import summary as _summary
from ...metrics.pose_fidelity import part_fidelity
from ...metrics.pose_fidelity import pose_fidelity as detected_fidelity
from ...models.detectors import build_detector


def pose_fidelity(ctx: ScoreContext) -> None:
    from ..detect import DetectConfig, detect_clip

    cfg = ctx.cfg
    todo = [it for it in ctx.items if it.skeleton is not None]
    if not todo:
        raise Skip("no conditioning skeletons (generate sidecars with pose.keypoints_crop_px)")
    if cfg.pose_locator not in ("detect", "parts"):
        raise InputError(f"pose_locator must be detect or parts, got {cfg.pose_locator!r}")
    detector, dcfg = None, DetectConfig(model=ctx.models.get("yolo"))
    if cfg.pose_locator == "detect":
        detector = build_detector(dcfg, ctx.device, allow_download=False)
    for it, frames in ctx.readable(track(todo, description="pose-fidelity", unit="video",
                                         mode=ctx.progress)):
        if len(frames) != len(it.skeleton):
            log.warning("%s: %d frames but a %d-frame skeleton; skipped", it.name, len(frames),
                        len(it.skeleton))
            continue
        if detector is not None:
            detected = detect_clip(detector, frames, dcfg)["keypoints2d"]
            res = detected_fidelity(detected, it.skeleton, cfg.pck_alpha)
        else:
            res = part_fidelity(frames, it.skeleton, cfg.pck_alpha)
        ctx.per_video[it.name].update({f"pose_{k}": v for k, v in res.items()})
    rows = list(ctx.per_video.values())
    ctx.results["metrics"]["pose-fidelity"] = {
        **{k: _summary([r.get(f"pose_{k}") for r in rows])
           for k in ("pck", "px_error", "px_error_rel", "detected")},
        "protocol": {"locator": getattr(detector, "description", "YOLO pose")
                     if detector is not None else "colour-coded mannequin limbs (8 segments, "
                     "centroid vs bone midpoint)",
                     "pck": f"PCK@{cfg.pck_alpha} of the larger side of the skeleton's "
                            "per-frame box; an undetected joint or limb is a miss",
                     "px_error": "mean distance over detected joints/limbs, in generated-frame "
                                 "px"}}
