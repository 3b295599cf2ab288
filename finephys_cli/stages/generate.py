"""`generate`: prompts -> pose-guided videos (mp4 + PNG strip + JSON sidecar per video).

The skeleton of each video comes from `--poses`, or else from the `synth` motion of the prompt's
class run through `lift` -> `physnet` with the very stage functions of those commands, cached
under OUT/poses/. generation/conditioning.py selects, samples and crops it, as for training;
a heatmaps file (`render-heatmaps`) gives its stored crop and, at matching sizes, its maps.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..configs import config_hash, keyed_fields
from ..console import log, track
from ..errors import (FinephysError, InputError, OutputExistsError, PartialFailure,
                      ResourceError, UsageError)
from ..generation.conditioning import ClipPose, clip_pose
from ..io.video import strip_image, write_video
from ..io.atomic import atomic_write_text
from ..io.fingerprint import file_fingerprint
from ..data.classes import class_by_id
from ..data.prompts import extend_with, match_prompt
from ..generation.bundle import load_generator, resolve_generator
from ..io.fingerprint import model_fingerprint as fingerprint
from ..generation.compile import artifact_key, enable_persistent_cache, load_artifacts
from ..generation.pipeline import CUDA_GRAPH_MODES, SampleSettings, check_compile_options
from ..generation.stepcache import check_step_cache
from ..io.manifest import apply_shard
from ..io.poses_h5 import PoseFile
from ..io.sidefiles import read_text

PROVENANCE_VERSION = 1


@dataclass
class GenerateConfig:
    steps: int = 25
    guidance_scale: float = 7.5
    pose_scale: float = 1.0
    pose_cfg: bool | None = None   # None: the generator's own default (the offline one: on)
    frames: int = 16
    size: int | None = None        # None: 384, or the offline generator's native size
    dtype: str = "auto"            # auto: fp16 on CUDA, fp32 on CPU
    extend_prompt: bool = True
    negative_prompt: str = ""
    free_init: int = 0
    step_cache: int = 1            # opt-in DeepCache: a full UNet step every N (changes frames)
    batch_size: int = 1
    crop_pad: float = 0.15
    pose_source: str = "auto"      # generation/conditioning.py POSE_SOURCES
    compile: bool = False          # torch.compile the UNet and VAE decoder (same output within
    compile_mode: str = "default"  # float tolerance, so not part of the skip key)
    compile_scope: str = "unet"    # or "blocks": each ResNet/transformer block alone (regional)
    fuse_qkv: bool = False


@dataclass
class Job:
    prompt: str
    seed: int
    index: int
    gym_class: int | None = None
    extended: str = ""
    label: str | None = None
    pose: ClipPose | None = None


def slug(text: str, n: int = 40) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:n].rstrip("-") or "video"


def read_prompts_csv(path: Path) -> list[dict]:
    """Columns: prompt (required), class (Gym99 id, optional), seed (optional)."""
    import io


    rows = list(csv.DictReader(io.StringIO(read_text(path, "a prompts CSV"), newline="")))
    if not rows or "prompt" not in rows[0]:
        raise InputError(f"--prompts {path}: a CSV with a 'prompt' column is expected")

    def integer(r: dict, column: str, line: int) -> int | None:
        text = (r.get(column) or "").strip()
        if not text:
            return None
        try:
            return int(text)
        except ValueError:
            raise InputError(f"--prompts {path}: row {line}: {column} {text!r} is not an "
                             "integer") from None

    out = []
    for i, r in enumerate(rows):
        line = i + 2
        if not (r.get("prompt") or "").strip():
            raise InputError(f"--prompts {path}: row {line} has an empty prompt")
        cls = integer(r, "class", line)
        if cls is not None:
            try:
                class_by_id(cls)
            except InputError:
                raise InputError(f"--prompts {path}: row {line}: class {cls} is not a Gym99 "
                                 "floor-exercise class (finephys classes lists them)") from None
        out.append({"prompt": r["prompt"].strip(), "class": cls,
                    "seed": integer(r, "seed", line)})
    return out


def make_jobs(prompts: list[dict], num_videos: int, seed: int, gym_class: int | None,
              extend: bool) -> list[Job]:

    jobs = []
    for p in prompts:
        cls_id = p.get("class") if p.get("class") is not None else gym_class
        cls = class_by_id(cls_id) if cls_id is not None else match_prompt(p["prompt"])
        extended = extend_with(p["prompt"], cls) if (extend and cls) else p["prompt"]
        base = p["seed"] if p.get("seed") is not None else seed
        for k in range(num_videos):
            jobs.append(Job(prompt=p["prompt"], seed=base + k, index=len(jobs),
                            gym_class=cls.gym99_class if cls else None, extended=extended,
                            label=cls.label if cls else None))
    return jobs


def poses_from_file(path: Path, cfg: GenerateConfig, size: int, levels: list[int] | None,
                    n: int, source: str | None = None) -> list[ClipPose]:
    """One skeleton per video of a pose file (cycled over the jobs); a heatmaps file lends its
    maps when it holds them at these sizes. `source` overrides cfg.pose_source."""

    out = []
    with PoseFile(path, formats=("finephys.pose2d", "finephys.synth", "finephys.phys",
                                 "finephys.heatmaps")) as pf:
        if not pf.video_ids:
            raise InputError(f"--poses {path}: no videos")
        for vid in pf.video_ids[:n]:
            out.append(clip_pose(pf, vid, source=source or cfg.pose_source, frames=cfg.frames,
                                 size=size, pad=cfg.crop_pad, levels=levels))
    return out


def synth_poses(gym_class: int, count: int, seed: int, cache: Path, cfg: GenerateConfig,
                size: int, device: str) -> list[ClipPose]:
    """synth -> lift -> physnet for one class, cached in `cache`; the fused 2D skeletons."""
    from .lift import LiftConfig, run_lift
    from .physnet import RefineConfig, run_physnet
    from .synth import SynthConfig, run_synth

    stem = cache / f"fx{gym_class:02d}_seed{seed}_n{count}"
    synth = run_synth(SynthConfig(classes=str(gym_class), per_class=count, seed=seed),
                      stem.with_suffix(".synth.h5"), progress="none")
    lifted = run_lift(LiftConfig(), synth, stem.with_suffix(".pose3d.h5"), device=device,
                      progress="none")
    phys = run_physnet(RefineConfig(), lifted, stem.with_suffix(".phys.h5"), device=device,
                       progress="none")
    return poses_from_file(phys, cfg, size, None, count, source="fused")


def torch_dtype(name: str, device: str):
    import torch

    if name == "auto":
        name = "fp16" if device.startswith("cuda") else "fp32"
    table = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
    if name not in table:
        raise UsageError(f"--dtype must be auto, fp16, bf16 or fp32, got {name!r}")
    if name == "fp16" and device == "cpu":
        log.warning("fp16 is not supported for CPU sampling; using fp32")
        return torch.float32
    return table[name]


def run_generate(cfg: GenerateConfig, prompts: list[dict], output: Path, *, num_videos: int = 1,
                 seed: int = 0, gym_class: int | None = None, poses: Path | None = None,
                 models: dict | None = None, device: str = "cpu", shard=None,
                 overwrite: bool = False, progress: str = "auto",
                 allow_download: bool = False) -> list[Path]:
    """Write OUT/<name>.mp4, .png and .json per job. The rerun rule of every stage: a finished
    job (same settings and inputs) is skipped, one whose input changed is redone, and videos
    made with other settings are refused without --overwrite. A job that fails (its skeleton
    cannot be made) is recorded as OUT/<name>.failed.json and retried by the next run."""
    import torch
    from PIL import Image


    if cfg.frames < 1 or cfg.steps < 1 or cfg.batch_size < 1:
        raise UsageError("--frames, --steps and --batch-size must be positive")
    if cfg.compile:
        try:
            check_compile_options(cfg.compile_mode, cfg.compile_scope)
        except ValueError as err:
            raise UsageError(str(err)) from None
    check_step_cache(cfg.step_cache, cfg.compile and cfg.compile_mode in CUDA_GRAPH_MODES)
    spec = resolve_generator(**(models or {}))
    size = cfg.size or spec.native_size or 384
    if spec.native_size and size != spec.native_size:
        log.warning("the offline generator was trained at %d px; --size %d will look worse",
                    spec.native_size, size)
    jobs, _ = apply_shard(make_jobs(prompts, num_videos, seed, gym_class, cfg.extend_prompt),
                          shard)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    pose_cfg = spec.pose_cfg if cfg.pose_cfg is None else cfg.pose_cfg
    settings = SampleSettings(steps=cfg.steps, guidance_scale=cfg.guidance_scale,
                              pose_scale=cfg.pose_scale, pose_cfg=pose_cfg, frames=cfg.frames,
                              size=size, negative_prompt=cfg.negative_prompt,
                              free_init=cfg.free_init, step_cache=cfg.step_cache)
    model_info = {k: {"path": v, "sha256": fingerprint(Path(v)) if v else None,
                      "source": spec.sources.get(k)} for k, v in spec.paths().items()}
    speed_only = ("compile", "compile_mode", "compile_scope", "fuse_qkv", "batch_size")
    keyed = {k: v for k, v in keyed_fields(cfg, {"step_cache": 1}).items()
             if k not in speed_only}
    chash = config_hash({**keyed,
                         "size": size, "pose_cfg": pose_cfg, "models": model_info,
                         "poses": str(poses) if poses else None})
    names = {j.index: f"{j.index:04d}_{slug(j.label or j.prompt)}_s{j.seed}" for j in jobs}
    inputs = file_fingerprint(Path(poses)) if poses else ""
    states = {j.index: _job_state(output / f"{names[j.index]}.json", chash, inputs)
              for j in jobs}
    other = sorted(names[i] for i, state in states.items() if state == "other")
    if other and not overwrite:
        raise OutputExistsError(f"{output}: {len(other)} video(s) were made with other "
                                f"settings ({other[0]}.json); use --overwrite to replace "
                                "them, or another -o")
    todo = [j for j in jobs if overwrite or states[j.index] != "done"]
    written = [output / f"{names[j.index]}.mp4" for j in jobs if j not in todo]
    if not todo:
        log.info("generate: all %d videos already done", len(jobs))
        return written
    dtype = torch_dtype(cfg.dtype, device)
    pipe = load_generator(spec, device=device, dtype=dtype, allow_download=allow_download)
    failures = _attach_poses(todo, cfg, size, poses, output / "poses", device,
                             levels=pipe.levels(size) if pipe.encoder is not None else None)
    for job in [j for j in todo if j.index in failures]:
        name = names[job.index]
        atomic_write_text(output / f"{name}.failed.json", json.dumps(
            {"finephys_sidecar": PROVENANCE_VERSION, "failed": True, "prompt": job.prompt,
             "seed": job.seed, "reason": failures[job.index], "config_hash": chash}, indent=1))
        log.warning("%s: %s", name, failures[job.index])
    todo = [j for j in todo if j.index not in failures]
    cache_key = _compile(pipe, cfg, spec, size, pose_cfg) if cfg.compile else None
    batches = [todo[i:i + cfg.batch_size] for i in range(0, len(todo), cfg.batch_size)]
    ticks = iter(track(range(len(batches) * cfg.steps * max(cfg.free_init, 1)),
                       description="generate", unit="step", mode=progress))
    next(ticks, None)
    for batch in batches:
        try:
            videos = pipe([j.extended for j in batch], [j.seed for j in batch], settings,
                          poses=[(j.pose.keypoints, j.pose.scores, j.pose.maps)
                                 for j in batch],
                          on_step=lambda: next(ticks, None))
        except torch.OutOfMemoryError as exc:
            raise ResourceError(f"out of memory generating {len(batch)} video(s) of "
                                f"{cfg.frames}x{size}²: use --dtype fp16 or bf16, fewer "
                                f"--frames, a smaller --size or --batch-size 1") from exc
        for job, frames in zip(batch, videos):
            name = names[job.index]
            mp4 = write_video(output / f"{name}.mp4", frames, fps=8.0)
            png = output / f"{name}.png"
            tmp = png.with_name(png.name + ".partial")
            Image.fromarray(strip_image(frames)).save(tmp, format="PNG")
            tmp.replace(png)
            sidecar = {
                "finephys_sidecar": PROVENANCE_VERSION, "config_hash": chash,
                "video": mp4.name, "strip": png.name, "prompt": job.prompt,
                "prompt_extended": job.extended, "gym99_class": job.gym_class,
                "label": job.label, "seed": job.seed, "frames": cfg.frames, "size": size,
                "fps": 8.0,
                "settings": {**asdict(cfg), "size": size, "pose_cfg": pose_cfg,
                             "dtype": str(dtype)},
                "models": model_info, "offline_generator": spec.offline,
                "pose": {"source": job.pose.label, **job.pose.record(),
                         "keypoints_crop_px": np.round(job.pose.keypoints, 3).tolist(),
                         "scores": np.round(job.pose.scores, 4).tolist(),
                         "stored_maps": job.pose.maps is not None},
                "device": device, "input_fingerprint": inputs,
            }
            atomic_write_text(output / f"{name}.json", json.dumps(sidecar, indent=1))
            (output / f"{name}.failed.json").unlink(missing_ok=True)
            written.append(mp4)
        if cache_key is not None:
            from ..generation.compile import save_artifacts

            log.info("compile cache saved: %s", save_artifacts(cache_key))
            cache_key = None          # once, after the first compiled batch
    for _ in ticks:
        pass
    if failures:
        raise PartialFailure({names[i]: why for i, why in failures.items()},
                             output=[str(p) for p in sorted(written)])
    return sorted(written)


def _compile(pipe, cfg: GenerateConfig, spec, size: int, pose_cfg: bool) -> str:
    """Compile once per machine and model: load the saved caches, or say it will take a while."""

    root = enable_persistent_cache()
    key = artifact_key(spec.sd15, cfg.compile_mode, cfg.compile_scope, cfg.fuse_qkv, cfg.frames,
                       size, cfg.batch_size, cfg.dtype, pose_cfg)
    if load_artifacts(key):
        log.info("compiling with the cache in %s (seconds, not minutes)", root)
    else:
        log.info("compiling the UNet and VAE decoder: about %s, once per machine and model "
                 "(cached in %s)", "1 min" if cfg.compile_scope == "blocks" else "2 min", root)
    pipe.compile(mode=cfg.compile_mode, fuse_qkv=cfg.fuse_qkv, scope=cfg.compile_scope)
    return key


def _job_state(sidecar: Path, chash: str, inputs: str) -> str:
    """new (no finished video), done (same settings and inputs), redo (same settings, its
    input changed) or other (made with other settings)."""
    if not sidecar.is_file():
        return "new"
    try:
        meta = json.loads(sidecar.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "new"                  # a torn sidecar: the job never finished
    if not (sidecar.parent / str(meta.get("video", ""))).is_file():
        return "new"
    if meta.get("config_hash") != chash:
        return "other"
    return "done" if meta.get("input_fingerprint", "") == inputs else "redo"


def _attach_poses(jobs: list[Job], cfg: GenerateConfig, size: int, poses: Path | None,
                  cache: Path, device: str, levels: list[int] | None) -> dict[int, str]:
    """Give every job its skeleton; returns {job index: reason} for the jobs that get none,
    even when that is all of them (each is recorded and retried by the next run; a pose file
    that cannot be read at all fails the whole command instead)."""
    if poses is not None:
        skeletons = poses_from_file(poses, cfg, size, levels, 10 ** 9)
        for j in jobs:
            j.pose = skeletons[j.index % len(skeletons)]
        return {}
    cache.mkdir(parents=True, exist_ok=True)
    failures: dict[int, str] = {}
    for j in jobs:
        if j.gym_class is None:
            failures[j.index] = (f"prompt {j.prompt!r} matches no Gym99 FX class: pass --class "
                                 "ID or --poses FILE")
            continue
        try:
            # One synthetic performance per (class, seed): the seed picks the motion too.
            j.pose = synth_poses(j.gym_class, 1, j.seed, cache, cfg, size, device)[0]
        except FinephysError as exc:
            failures[j.index] = str(exc)
    return failures
