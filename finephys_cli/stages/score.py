"""`score`: CLIP-SIM, CLIP-SIM*, PickScore, FVD and pose fidelity over a folder of videos.

Each video's prompt, class and conditioning skeleton come from its `generate` sidecar
(<stem>.json) or from a --prompts CSV (video, prompt, class). Reference videos (for CLIP-SIM*
and FVD) get their class from a sidecar, a `classes.csv` (video, class) in their folder, or a
synth name (fxNN_...). With `all`, a metric whose model or reference is missing is skipped
with the reason; a metric asked for by name that cannot run is an error.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..console import log, track
from ..errors import InputError, ModelNotFoundError, UsageError
from ..generation.bundle import fingerprint
from ..io import manifest
from ..io.atomic import atomic_write_text

METRICS = ("clip-sim", "clip-sim-star", "pickscore", "fvd", "pose-fidelity")


@dataclass
class ScoreConfig:
    metrics: tuple[str, ...] = ("all",)
    smooth_pairs: str = "consecutive"     # eq. 29 pairs: consecutive or all
    star_references: int = 3              # M reference videos per class (CLIP-SIM*)
    star_ks: tuple[int, ...] = (1, 2, 4, 8, 16)
    fvd_backend: str = "i3d"              # i3d or videomae
    fvd_frames: int = 16
    pck_alpha: float = 0.1
    pose_locator: str = "detect"          # detect (YOLO pose, any video) or parts (colour-coded
    seed: int = 0                         # mannequin of synth --mannequin parts)


@dataclass
class VideoItem:
    path: Path
    name: str
    prompt: str | None = None
    gym_class: int | None = None
    skeleton: np.ndarray | None = None
    meta: dict = field(default_factory=dict)


VIDEO_EXTS = manifest.VIDEO_EXTS + (".gif",)   # PyAV decodes GIFs too


def _videos(folder: Path) -> list[Path]:
    if not Path(folder).is_dir():
        raise InputError(f"{folder}: not a folder of videos")
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in VIDEO_EXTS)
    if not paths:
        raise InputError(f"{folder}: no videos ({', '.join(VIDEO_EXTS)})")
    return paths


def _csv_rows(path: Path) -> dict[str, dict]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if rows and "video" not in rows[0]:
        raise InputError(f"{path}: a 'video' column is expected")
    return {Path(r["video"]).stem: r for r in rows}


def collect_items(folder: Path, prompts_csv: Path | None = None) -> list[VideoItem]:
    table = _csv_rows(prompts_csv) if prompts_csv else {}
    local = Path(folder) / "classes.csv"
    if not table and local.is_file():
        table = _csv_rows(local)
    items = []
    for p in _videos(folder):
        item = VideoItem(p, p.stem)
        side = p.with_suffix(".json")
        if side.is_file():
            meta = json.loads(side.read_text())
            item.meta = meta
            item.prompt = meta.get("prompt")
            item.gym_class = meta.get("gym99_class")
            pose = meta.get("pose", {}).get("keypoints_crop_px")
            if pose is not None:
                item.skeleton = np.asarray(pose, dtype=np.float64)
        row = table.get(p.stem)
        if row:
            item.prompt = row.get("prompt") or item.prompt
            if (row.get("class") or "").strip():
                item.gym_class = int(row["class"])
        if item.gym_class is None:
            m = re.match(r"fx(\d\d)_", p.stem)
            if m:
                item.gym_class = int(m.group(1))
        items.append(item)
    return items


def _read(path: Path) -> np.ndarray:
    from ..io.video import read_frames

    return read_frames(path)[0]


def _model_path(name: str, given: Path | None) -> Path:
    from ..models.registry import GENERATOR_PARTS, SCORE_MODELS, configured_path

    path, source = configured_path(name, given)
    if path is None:
        raise ModelNotFoundError(f"no {name} model: pass --{name}-model or set "
                                 f"FINEPHYS_{name.upper()}_MODEL "
                                 f"({SCORE_MODELS.get(name) or GENERATOR_PARTS.get(name)})")
    if not path.exists():
        raise ModelNotFoundError(f"{name} model {path} ({source}) does not exist")
    return path


def run_score(cfg: ScoreConfig, generated: Path, output: Path, *, reference: Path | None = None,
              prompts: Path | None = None, domain_images: Path | None = None,
              models: dict | None = None, device: str = "cpu", strict: bool = False,
              progress: str = "auto") -> list[Path]:
    wanted = METRICS if "all" in cfg.metrics else tuple(cfg.metrics)
    # A metric asked for by name that cannot run is an error: a script that asked for FVD and
    # got none must fail. `--metric all` skips what cannot run, with the reason (or --strict).
    strict = strict or "all" not in cfg.metrics
    bad = [m for m in wanted if m not in METRICS]
    if bad:
        raise UsageError(f"--metric {', '.join(bad)}: choose from {', '.join(METRICS)} or all")
    models = models or {}
    items = collect_items(generated, prompts)
    refs = collect_items(reference) if reference is not None else []
    frames = {it.name: _read(it.path) for it in track(items, description="read videos",
                                                        unit="video", mode=progress)}
    results: dict[str, dict] = {"protocol": {"generated": str(generated), "n_generated":
                                             len(items), "reference": str(reference)
                                             if reference else None, "n_reference": len(refs),
                                             "config": asdict(cfg), "device": device},
                                "metrics": {}, "skipped": {}}
    per_video: dict[str, dict] = {it.name: {"video": it.name, "class": it.gym_class,
                                            "prompt": it.prompt} for it in items}

    def skip(metric: str, reason: str) -> None:
        if strict:
            raise ModelNotFoundError(f"{metric}: {reason}") if "model" in reason \
                else InputError(f"{metric}: {reason}")
        log.warning("skipping %s: %s", metric, reason)
        results["skipped"][metric] = reason

    runners = {"clip-sim": _clip_sim, "clip-sim-star": _clip_sim_star, "pickscore": _pickscore,
               "fvd": _fvd, "pose-fidelity": _pose_fidelity}
    ctx = {"cfg": cfg, "items": items, "refs": refs, "frames": frames, "models": models,
           "device": device, "domain_images": domain_images, "progress": progress,
           "per_video": per_video, "results": results, "clip": None}
    for metric in wanted:
        try:
            runners[metric](ctx)
        except (ModelNotFoundError, _Skip) as exc:
            skip(metric, str(exc))
    _aggregate_by_class(results, per_video)
    results["per_video"] = list(per_video.values())
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(output, json.dumps(results, indent=1, default=_json_default))
    csv_path = output.with_suffix(".csv")
    cols = sorted({k for row in per_video.values() for k in row}, key=_col_order)
    lines = [",".join(cols)] + [",".join(_cell(row.get(c)) for c in cols)
                                for row in per_video.values()]
    atomic_write_text(csv_path, "\n".join(lines) + "\n")
    return [output, csv_path]


class _Skip(Exception):
    """A metric cannot run on these inputs (not an error unless --strict)."""


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o))


def _col_order(c: str) -> tuple[int, str]:
    return ({"video": 0, "class": 1, "prompt": 2}.get(c, 3), c)


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    s = str(v)
    return '"' + s.replace('"', '""') + '"' if ("," in s or '"' in s) else s


def _summary(values: list[float]) -> dict:
    arr = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    if not len(arr):
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0,
            "n": int(len(arr))}


def _aggregate_by_class(results: dict, per_video: dict) -> None:
    numeric = sorted({k for row in per_video.values() for k, v in row.items()
                      if isinstance(v, float)})
    by_class: dict[str, dict] = {}
    for cls in sorted({str(r["class"]) for r in per_video.values()}):
        rows = [r for r in per_video.values() if str(r["class"]) == cls]
        by_class[cls] = {k: _summary([r.get(k) for r in rows])["mean"] for k in numeric}
        by_class[cls]["n"] = len(rows)
    results["per_class"] = by_class


def _clip(ctx: dict):
    if ctx["clip"] is None:
        from ..metrics.clip_sim import ClipEmbedder

        path = _model_path("clip", ctx["models"].get("clip"))
        ctx["clip"] = ClipEmbedder.load(path, device=ctx["device"])
        ctx["clip_path"] = path
        ctx["clip_cache"] = {}
    return ctx["clip"]


def _frame_emb(ctx: dict, name: str, frames: np.ndarray) -> np.ndarray:
    cache = ctx["clip_cache"]
    if name not in cache:
        cache[name] = ctx["clip"].images(frames)
    return cache[name]


def _clip_protocol(ctx: dict) -> dict:
    emb = ctx["clip"]
    return {"model": str(ctx["clip_path"]), "sha256": fingerprint(ctx["clip_path"]),
            "image_processor": type(emb.processor.image_processor).__name__}


def _clip_sim(ctx: dict) -> None:
    from ..metrics.clip_sim import domain_score, smooth_score, text_score

    emb = _clip(ctx)
    cfg, per_video = ctx["cfg"], ctx["per_video"]
    domain_refs = _domain_images(ctx) if ctx["domain_images"] else None
    texts = {}
    for it in track(ctx["items"], description="clip-sim", unit="video", mode=ctx["progress"]):
        f = _frame_emb(ctx, it.name, ctx["frames"][it.name])
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
    ctx["results"]["metrics"]["clip-sim"] = {
        "text_x100": _summary([r.get("clip_text") for r in rows]),
        "domain": _summary([r.get("clip_domain") for r in rows]),
        "smooth": _summary([r.get("clip_smooth") for r in rows]),
        "protocol": {**_clip_protocol(ctx), "text": "mean_t 100·cos(frame, prompt) (eq. 27)",
                     "domain": "mean_t,j cos(frame, reference image j) (eq. 28)"
                     if domain_refs is not None else "skipped: no --domain-images",
                     "smooth": f"mean cos over {cfg.smooth_pairs} frame pairs (eq. 29)"}}


def _domain_images(ctx: dict) -> dict[str, np.ndarray]:
    """--domain-images DIR: images per class in DIR/<class id>/, or flat images for all."""
    from PIL import Image

    root = Path(ctx["domain_images"])
    groups: dict[str, list[Path]] = {}
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() in manifest.IMAGE_EXTS:
            key = p.parent.name if p.parent != root else "*"
            groups.setdefault(key, []).append(p)
    if not groups:
        raise _Skip(f"--domain-images {root}: no images")
    return {k: ctx["clip"].images(np.stack([np.asarray(Image.open(p).convert("RGB").resize(
        (224, 224))) for p in v])) for k, v in groups.items()}


def _references_by_class(ctx: dict) -> dict[int, list[VideoItem]]:
    refs = ctx["refs"]
    if not refs:
        raise _Skip("needs --reference REAL_DIR (real videos of the same classes)")
    by: dict[int, list[VideoItem]] = {}
    for r in refs:
        if r.gym_class is not None:
            by.setdefault(int(r.gym_class), []).append(r)
    return by


def _clip_sim_star(ctx: dict) -> None:
    from ..metrics.clip_sim import domain_score, reference_anchor_indices, smooth_star

    _clip(ctx)
    cfg, per_video = ctx["cfg"], ctx["per_video"]
    by_class = _references_by_class(ctx)
    chosen: dict[str, list[str]] = {}
    ref_frames: dict[str, np.ndarray] = {}
    for it in track(ctx["items"], description="clip-sim*", unit="video", mode=ctx["progress"]):
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
        ref_embs = []
        for name in chosen[key]:
            if name not in ref_frames:
                ref = next(r for r in pool if r.name == name)
                ref_frames[name] = _read(ref.path)
            ref_embs.append(_frame_emb(ctx, "ref:" + name, ref_frames[name]))
        f = _frame_emb(ctx, it.name, ctx["frames"][it.name])
        anchors = np.concatenate([e[reference_anchor_indices(len(e))] for e in ref_embs])
        row = per_video[it.name]
        row["clip_star_domain"] = domain_score(f, anchors)
        ks = [smooth_star(f, ref_embs, k) for k in cfg.star_ks]
        for k, v in zip(cfg.star_ks, ks):
            row[f"clip_star_smooth_k{k}"] = v
        row["clip_star_smooth"] = float(np.mean(ks))
    rows = list(per_video.values())
    if not any("clip_star_domain" in r for r in rows):
        raise _Skip("no generated video has a class with reference videos")
    ctx["results"]["metrics"]["clip-sim-star"] = {
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


def _pickscore(ctx: dict) -> None:
    from ..metrics.clip_sim import ClipEmbedder, pickscore

    path = _model_path("pickscore", ctx["models"].get("pickscore"))
    proc = ctx["models"].get("pickscore_processor")
    emb = ClipEmbedder.load(path, proc, device=ctx["device"])
    scale = emb.logit_scale
    for it in track(ctx["items"], description="pickscore", unit="video", mode=ctx["progress"]):
        if not it.prompt:
            continue
        f = emb.images(ctx["frames"][it.name])
        ctx["per_video"][it.name]["pickscore"] = pickscore(f, emb.texts([it.prompt])[0], scale)
    rows = list(ctx["per_video"].values())
    if not any("pickscore" in r for r in rows):
        raise _Skip("no prompts (sidecars or --prompts)")
    ctx["results"]["metrics"]["pickscore"] = {
        "score": _summary([r.get("pickscore") for r in rows]),
        "protocol": {"model": str(path), "sha256": fingerprint(path), "logit_scale_exp": scale,
                     "formula": "mean_t exp(logit_scale)·cos(prompt, frame) (eq. 32-33)"}}


def _fvd(ctx: dict) -> None:
    from ..metrics.frechet import FeatureStats, frechet_distance
    from ..metrics.fvd import I3DFeatures, VideoMAEFeatures

    cfg = ctx["cfg"]
    if not ctx["refs"]:
        raise _Skip("needs --reference REAL_DIR")
    if cfg.fvd_backend == "i3d":
        path = _model_path("i3d", ctx["models"].get("i3d"))
        extractor = I3DFeatures(str(path), ctx["device"], cfg.fvd_frames)
    elif cfg.fvd_backend == "videomae":
        path = _model_path("videomae", ctx["models"].get("videomae"))
        extractor = VideoMAEFeatures(str(path), ctx["device"])
    else:
        raise InputError(f"fvd_backend must be i3d or videomae, got {cfg.fvd_backend!r}")

    def features(videos: list[tuple[str, np.ndarray]], label: str) -> np.ndarray:
        out = []
        for s in track(range(0, len(videos), 8), description=f"fvd {label}", unit="batch",
                       mode=ctx["progress"]):
            out.append(extractor([v for _, v in videos[s:s + 8]]))
        return np.concatenate(out)

    gen = features([(it.name, ctx["frames"][it.name]) for it in ctx["items"]], "generated")
    real = features([(r.name, _read(r.path)) for r in ctx["refs"]], "reference")
    if len(gen) < 2 or len(real) < 2:
        raise _Skip("FVD needs at least 2 generated and 2 reference videos")
    value = frechet_distance(FeatureStats.from_features(real), FeatureStats.from_features(gen))
    dim = gen.shape[1]
    warning = None
    if min(len(gen), len(real)) < dim:
        warning = (f"N = {len(gen)} generated / {len(real)} reference is below the feature "
                   f"dimension {dim}: the covariances are singular and FVD is strongly biased "
                   f"upward at small N; compare only at equal N (use >= 256, ideally 2048)")
        log.warning("fvd: %s", warning)
    ctx["results"]["metrics"]["fvd"] = {
        "fvd": value, "n_generated": len(gen), "n_reference": len(real), "warning": warning,
        "protocol": {**extractor.protocol, "model": str(path), "sha256": fingerprint(path),
                     "covariance": "unbiased (1/(N-1))",
                     "sqrt": "symmetric eigh form, float64 (no scipy sqrtm)"}}


def _pose_fidelity(ctx: dict) -> None:
    from ..metrics.pose_fidelity import pose_fidelity
    from ..models.detectors import build_detector
    from ..stages.detect import DetectConfig, detect_clip

    from ..metrics.pose_fidelity import part_fidelity

    cfg = ctx["cfg"]
    todo = [it for it in ctx["items"] if it.skeleton is not None]
    if not todo:
        raise _Skip("no conditioning skeletons (generate sidecars with pose.keypoints_crop_px)")
    if cfg.pose_locator not in ("detect", "parts"):
        raise InputError(f"pose_locator must be detect or parts, got {cfg.pose_locator!r}")
    detector, dcfg = None, DetectConfig(model=ctx["models"].get("yolo"))
    if cfg.pose_locator == "detect":
        detector = build_detector(dcfg, ctx["device"], allow_download=False)
    for it in track(todo, description="pose-fidelity", unit="video", mode=ctx["progress"]):
        frames = ctx["frames"][it.name]
        if len(frames) != len(it.skeleton):
            log.warning("%s: %d frames but a %d-frame skeleton; skipped", it.name, len(frames),
                        len(it.skeleton))
            continue
        if detector is not None:
            detected = detect_clip(detector, frames, dcfg)["keypoints2d"]
            res = pose_fidelity(detected, it.skeleton, cfg.pck_alpha)
        else:
            res = part_fidelity(frames, it.skeleton, cfg.pck_alpha)
        ctx["per_video"][it.name].update({f"pose_{k}": v for k, v in res.items()})
    rows = list(ctx["per_video"].values())
    ctx["results"]["metrics"]["pose-fidelity"] = {
        **{k: _summary([r.get(f"pose_{k}") for r in rows])
           for k in ("pck", "px_error", "px_error_rel", "detected")},
        "protocol": {"locator": getattr(detector, "description", "YOLO pose")
                     if detector is not None else "colour-coded mannequin limbs (8 segments, "
                     "centroid vs bone midpoint)",
                     "pck": f"PCK@{cfg.pck_alpha} of the larger side of the skeleton's "
                            "per-frame box; an undetected joint or limb is a miss",
                     "px_error": "mean distance over detected joints/limbs, in generated-frame "
                                 "px"}}
