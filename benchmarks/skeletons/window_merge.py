"""How `physnet` merges its overlapping windows, ablated on a lifted file: each variant writes a
phys file with the shipped (or given) PhysNet and MLP and evaluates it.
    python benchmarks/skeletons/window_merge.py POSE3D.h5 TRUTH.h5 OUTDIR VARIANT[,VARIANT..] \
        [PHYSNET MLP]
A VARIANT is WEIGHT or WEIGHT@STRIDE: WEIGHT is flat (the shipped mean), hann (sin² over the
window), tri (a triangle) or midN (the N frames at each window edge weighted 1e-3: the seeds
and the first rollout steps); STRIDE is physnet's window step (default: half the window).
Writes OUTDIR/phys.VARIANT.h5 and OUTDIR/eval.VARIANT.json (summarize.py reads them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

import finephys_cli.stages.physnet as physnet_stage
from finephys_cli.stages.physnet import RefineConfig, run_physnet


def window_weights(kind: str, frames: int) -> np.ndarray:
    k = (np.arange(frames) + 0.5) / frames
    if kind == "hann":
        return np.sin(np.pi * k) ** 2
    if kind == "tri":
        return 1.0 - np.abs(k - 0.5) * 2 + 1e-3
    if kind.startswith("mid"):
        n, idx = int(kind[3:]), np.arange(frames)
        return np.where((idx >= n) & (idx < frames - n), 1.0, 1e-3)
    raise SystemExit(f"unknown weight {kind!r}")


def weighted_merge(kind: str):
    def merge(values: np.ndarray, starts, t: int) -> np.ndarray:
        w = window_weights(kind, values.shape[1])
        acc = np.zeros((t,) + values.shape[2:])
        total = np.zeros_like(acc)
        for i, s in enumerate(starts):
            n = min(values.shape[1], t - s)
            v, ok = values[i, :n], ~np.isnan(values[i, :n])
            wn = w[:n].reshape((n,) + (1,) * (v.ndim - 1))
            acc[s:s + n] += np.where(ok, v, 0.0) * wn
            total[s:s + n] += ok * wn
        return np.where(total > 0, acc / np.maximum(total, 1e-12), np.nan)
    return merge


def main() -> None:
    pose3d, truth, out_dir = map(Path, sys.argv[1:4])
    physnet, mlp = (sys.argv[5:7] if len(sys.argv) > 6 else
                    ("finephys_cli/assets/physnet", "finephys_cli/assets/physnet_mlp"))
    out_dir.mkdir(parents=True, exist_ok=True)
    flat = physnet_stage.overlap_mean
    for variant in sys.argv[4].split(","):
        kind, _, stride = variant.partition("@")
        physnet_stage.overlap_mean = flat if kind == "flat" else weighted_merge(kind)
        out = out_dir / f"phys.{variant}.h5"
        run_physnet(RefineConfig(model=physnet, mlp_model=mlp,
                                 stride=int(stride) if stride else None),
                    pose3d, out, overwrite=True, progress="none")
        subprocess.run(["finephys", "eval-poses", str(out), "--truth", str(truth), "-o",
                        str(out_dir / f"eval.{variant}.json")], check=True, capture_output=True)
        print(out_dir / f"eval.{variant}.json")
    physnet_stage.overlap_mean = flat


if __name__ == "__main__":
    main()
