"""render-heatmaps speed: the vectorised torch renderer against the per-pixel reference loop.

Usage: python benchmarks/heatmaps_bench.py [--device cpu|cuda] [--frames 64] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time

import numpy as np
import torch

from finephys_cli.data.classes import class_by_id
from finephys_cli.generation.conditioning import crop_box, to_crop
from finephys_cli.generation.heatmaps import _segments, render_segments, sigma_for
from finephys_cli.skeleton import H36M_BONES
from finephys_cli.stages.synth import SynthConfig, make_sample


def reference_frame(kp: np.ndarray, sc: np.ndarray, size: int, sigma: float) -> np.ndarray:
    out = np.zeros((len(H36M_BONES), size, size))
    for li, (a, b) in enumerate(H36M_BONES):
        pa, pb = kp[a], kp[b]
        c = min(sc[a], sc[b])
        ab = pb - pa
        l2 = float(ab @ ab)
        for y in range(size):
            for x in range(size):
                px, py = x - pa[0], y - pa[1]
                u = 0.0 if l2 == 0 else min(max((px * ab[0] + py * ab[1]) / l2, 0.0), 1.0)
                dx, dy = px - u * ab[0], py - u * ab[1]
                out[li, y, x] = c * math.exp(-(dx * dx + dy * dy) / (2 * sigma * sigma))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    sample, _ = make_sample(SynthConfig(), class_by_id(33), 0)
    kp = sample.arrays["keypoints2d_exact"]
    reps = int(np.ceil(args.frames / len(kp)))
    kp = np.concatenate([kp] * reps)[: args.frames]
    box = crop_box(kp)
    kp = to_crop(kp, box, args.size)
    sc = np.ones(kp.shape[:2])
    sigma = sigma_for(args.size)
    dev = torch.device(args.device)
    a, b, w = _segments(torch.tensor(kp, dtype=torch.float32, device=dev),
                        torch.tensor(sc, dtype=torch.float32, device=dev), H36M_BONES)
    buf = torch.zeros((len(kp), 16, args.size, args.size), device=dev)
    for _ in range(2):
        render_segments(a, b, w, (args.size, args.size), sigma, out=buf)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    runs = 5
    t0 = time.perf_counter()
    for _ in range(runs):
        render_segments(a, b, w, (args.size, args.size), sigma, out=buf)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    ours_ms = (time.perf_counter() - t0) / runs / len(kp) * 1e3
    t0 = time.perf_counter()
    ref = reference_frame(kp[10], sc[10], args.size, sigma)
    ref_ms = (time.perf_counter() - t0) * 1e3
    err = float(np.abs(buf[10].cpu().numpy() - ref).max())
    device_name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else \
        f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"
    result = {"benchmark": "render-heatmaps", "device": device_name, "size": args.size,
              "frames": len(kp), "channels": 16, "ours_ms_per_frame": round(ours_ms, 3),
              "reference_loop_ms_per_frame": round(ref_ms, 1),
              "speedup": round(ref_ms / ours_ms, 1), "max_abs_diff_vs_reference": err,
              "torch": torch.__version__}
    print(json.dumps(result, indent=2))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
