"""Pose fidelity of the shipped offline generator (issue: offline generator).

For every Gym99 FX class, one held-out skeleton (synth seed 1000, never trained on: the
generator saw seed 100) goes through lift -> physnet exactly as `generate` does. Three videos
per class, same prompt and seed:
  guided      the skeleton A drives the video (pose-scale 1)
  unguided    pose-scale 0 (the encoder is off)
  mismatched  another class's skeleton B drives it
and each is compared with A by locating the colour-coded limbs (metrics.pose_fidelity). The
mismatched video is also compared with B (does it follow the skeleton it was given?). mannequin_frames is the share of frames with
a mannequin found at all (at least 4 of its 8 limbs), velocity_px the located limbs' MPJVE.

    python benchmarks/offline_generator/evaluate.py --device cuda --out results.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def held_out_pose(gym_class: int, seed: int, cache: Path, cfg, size: int, device: str):
    """The class's held-out skeleton as `generate` makes it (synth -> lift -> physnet, fused),
    read from a phys file already in `cache` (made on another machine, say), else made."""
    from finephys_cli.stages.generate import poses_from_file, synth_poses

    phys = cache / f"fx{gym_class:02d}_seed{seed}_n1.phys.h5"
    if phys.is_file():
        return poses_from_file(phys, cfg, size, None, 1, source="fused")[0]
    return synth_poses(gym_class, 1, seed, cache, cfg, size, device)[0]


def common_arguments(ap: argparse.ArgumentParser) -> None:
    """The options this script shares with guidance_ablation.py."""
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--classes", default="all")
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--guidance-scale", type=float, default=7.5)
    ap.add_argument("--pose-scale", type=float, default=1.0, help="of the skeleton it is given")
    ap.add_argument("--pose-cfg", action=argparse.BooleanOptionalAction, default=None,
                    help="sample with the skeleton left out of the unconditional branch "
                         "(default: the generator's own, as generate)")
    ap.add_argument("--step-cache", type=int, default=1,
                    help="a full UNet step every N (generate --step-cache; 1: off)")
    ap.add_argument("--generator", type=Path, help="an offline-generator bundle folder "
                    "(default: the configured or shipped generator)")
    ap.add_argument("--poses-cache", type=Path, help="the held-out skeletons' synth -> lift -> "
                    "physnet files, made here if absent (default: beside --out)")


def sample_settings(args, size: int, **overrides):
    """The SampleSettings these options give (16 frames at the generator's size)."""
    from finephys_cli.generation.pipeline import SampleSettings

    return SampleSettings(**{"steps": args.steps, "frames": 16, "size": size,
                             "guidance_scale": args.guidance_scale, "pose_scale": args.pose_scale,
                             "pose_cfg": args.pose_cfg, "step_cache": args.step_cache,
                             **overrides})


def open_generator(args, cache_name: str):
    """(classes, the generator spec, its size, the skeleton cache, a GenerateConfig, dtype,
    the loaded pipeline) for the shipped generator on args.device."""
    import torch

    from finephys_cli.data.classes import select_classes
    from finephys_cli.generation.bundle import bundle_spec, load_generator, resolve_generator
    from finephys_cli.stages.generate import GenerateConfig

    spec = bundle_spec(args.generator) if args.generator else resolve_generator()
    if args.pose_cfg is None:
        args.pose_cfg = spec.pose_cfg
    cache = args.poses_cache or args.out.parent / cache_name
    cache.mkdir(parents=True, exist_ok=True)
    dtype = torch.float16 if args.device.startswith("cuda") else torch.float32
    return (select_classes(args.classes), spec, spec.native_size, cache,
            GenerateConfig(size=spec.native_size), dtype,
            load_generator(spec, device=args.device, dtype=dtype))


def main() -> None:
    ap = argparse.ArgumentParser()
    common_arguments(ap)
    ap.add_argument("--strips", type=int, default=4, help="PNG strips to save (first classes)")
    ap.add_argument("--conditions", default="guided,unguided,mismatched")
    ap.add_argument("--skeletons-only", action="store_true",
                    help="make the held-out skeletons in --poses-cache, then stop")
    args = ap.parse_args()
    conditions = args.conditions.split(",")
    unknown = set(conditions) - {"guided", "unguided", "mismatched"}
    if unknown:
        ap.error(f"--conditions: unknown {sorted(unknown)}")
    import torch
    from PIL import Image

    from finephys_cli.data.prompts import extend_with
    from finephys_cli.metrics.pose_fidelity import (mannequin_frames, part_fidelity,
                                                     part_velocity_error)
    from finephys_cli.stages.generate import strip_image

    classes, spec, size, cache, cfg, dtype, pipe = open_generator(args, "eval_poses")
    skel = {c.gym99_class: held_out_pose(c.gym99_class, args.seed, cache, cfg, size,
                                         args.device) for c in classes}
    if args.skeletons_only:
        print(cache)
        return
    ids = [c.gym99_class for c in classes]
    rows, times = [], []
    for i, c in enumerate(classes):
        a = skel[c.gym99_class]
        b = skel[ids[(i + len(ids) // 2) % len(ids)]]
        prompt = extend_with(c.label, c)
        out = {}
        for name, pose, scale in (("guided", a, args.pose_scale), ("unguided", a, 0.0),
                                  ("mismatched", b, args.pose_scale)):
            if name not in conditions:
                continue
            settings = sample_settings(args, size, pose_scale=scale)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            t = time.perf_counter()
            video = pipe([prompt], [args.seed], settings,
                         poses=[(pose.keypoints, pose.scores)])[0]
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
            out[name] = video
            res = part_fidelity(video, a.keypoints)
            row = {"class": c.gym99_class, "condition": name, **res,
                   "mannequin_frames": mannequin_frames(video),
                   "velocity_px": part_velocity_error(video, a.keypoints)}
            if name == "mismatched":
                row.update({f"given_{k}": v for k, v in
                            part_fidelity(video, b.keypoints).items()})
            rows.append(row)
        if i < args.strips and len(out) == 3:
            Image.fromarray(np.concatenate([strip_image(out[k]) for k in
                                            ("guided", "unguided", "mismatched")], 0)).save(
                args.out.parent / f"strip_fx{c.gym99_class:02d}.png")
        print(c.gym99_class, {r["condition"]: round(r["pck"], 3) for r in rows[-len(out):]},
              file=sys.stderr, flush=True)
    table = {}
    for cond in conditions:
        sel = [r for r in rows if r["condition"] == cond]
        table[cond] = {k: float(np.nanmean([r[k] for r in sel]))
                       for k in ("pck", "px_error", "px_error_rel", "detected",
                                 "mannequin_frames", "velocity_px")}
    sel = [r for r in rows if r["condition"] == "mismatched"]
    if sel:
        table["mismatched_vs_given"] = {k: float(np.nanmean([r[f"given_{k}"] for r in sel]))
                                        for k in ("pck", "px_error", "px_error_rel", "detected")}
    res = {"device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
           "generator": str(spec.sd15.parent), "size": size, "steps": args.steps,
           "dtype": str(dtype), "classes": len(classes), "seed": args.seed,
           "pose_cfg": args.pose_cfg, "guidance_scale": args.guidance_scale,
           "pose_scale": args.pose_scale, "step_cache": args.step_cache,
           "seconds_per_video_median": float(np.median(times)), "table": table, "rows": rows}
    args.out.write_text(json.dumps(res, indent=1))
    print(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
