"""The paper's generation ablation on our ground: does physics-refined guidance make better
videos? (issue: offline generator v2)

For every Gym99 FX class, one held-out synth clip (seed 1000, never trained on) goes through
lift -> physnet as `generate` does. The same prompt and seed are then sampled four times, each
guided by another skeleton of that clip, each cropped the way `generate` crops it:
  detect   the detector-like 2D that synth writes (what `detect` would give)
  lift     S_dd, projected
  fused    (S_dd + S_pp)/2, projected through PhysNet's P
  exact    the true 2D (a ceiling)
Every video is scored against the *exact* skeleton mapped into its crop: PCK@0.1 and px error
of the colour-located limbs, their velocity error (MPJVE, px per frame), and the share of frames
with a mannequin found. The input skeletons' own error against the exact one is reported beside.

    python benchmarks/offline_generator/guidance_ablation.py --device cuda --out ablation.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from evaluate import common_arguments, held_out_pose, open_generator, sample_settings

SOURCES = ("detect", "lift", "fused", "exact")


def main() -> None:
    ap = argparse.ArgumentParser()
    common_arguments(ap)
    args = ap.parse_args()
    import torch

    from finephys_cli.data.prompts import extend_with
    from finephys_cli.generation.conditioning import clip_pose, select_keypoints, to_crop
    from finephys_cli.io.poses_h5 import PoseFile
    from finephys_cli.metrics.pose_fidelity import (mannequin_frames, part_fidelity,
                                                     part_velocity_error)

    classes, spec, size, cache, cfg, dtype, pipe = open_generator(args, "ablation_poses")
    rows, times = [], []
    for c in classes:
        origin = held_out_pose(c.gym99_class, args.seed, cache, cfg, size, args.device)
        phys_path, vid = origin.origin.rsplit(":", 1)
        prompt = extend_with(c.label, c)
        with PoseFile(Path(phys_path)) as pf:
            exact_px = select_keypoints(pf, vid, "exact")[0]
            poses = {s: clip_pose(pf, vid, source=s, frames=16, size=size) for s in SOURCES}
        for source, pose in poses.items():
            truth = to_crop(exact_px[pose.frame_indices], pose.crop_box, size)
            t = time.perf_counter()
            video = pipe([prompt], [args.seed], sample_settings(args, size),
                         poses=[(pose.keypoints, pose.scores)])[0]
            times.append(time.perf_counter() - t)
            err = np.linalg.norm(pose.keypoints - truth, axis=-1)
            rows.append({"class": c.gym99_class, "source": source,
                         **part_fidelity(video, truth),
                         "velocity_px": part_velocity_error(video, truth),
                         "mannequin_frames": mannequin_frames(video),
                         "input_px_error": float(np.nanmean(err))})
        print(c.gym99_class, {r["source"]: round(r["pck"], 3) for r in rows[-4:]},
              file=sys.stderr, flush=True)
    keys = ("pck", "px_error", "velocity_px", "detected", "mannequin_frames", "input_px_error")
    table = {s: {k: float(np.nanmean([r[k] for r in rows if r["source"] == s])) for k in keys}
             for s in SOURCES}
    res = {"device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
           "generator": str(spec.sd15.parent), "size": size, "steps": args.steps,
           "classes": len(classes), "seed": args.seed, "pose_cfg": args.pose_cfg,
           "guidance_scale": args.guidance_scale,
           "seconds_per_video_median": float(np.median(times)), "table": table, "rows": rows}
    args.out.write_text(json.dumps(res, indent=1))
    print(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
