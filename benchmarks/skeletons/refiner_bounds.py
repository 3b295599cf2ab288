"""What a refiner that sees only S_dd could gain on a set: eval-poses of a phys file whose S_pp
is replaced by S_dd transformed without any truth, fused as (S_dd + S_pp)/2 like PhysNet's.
    python benchmarks/skeletons/refiner_bounds.py PHYS.h5 TRUTH.h5 OUTDIR [OTHER_POSE3D.h5]
Rows written to OUTDIR/eval.NAME.json (eval-poses -o format; summarize.py reads them):
  smooth1, smooth2, smooth4  S_dd through a Gaussian in time (σ in frames);
  bones                      S_dd with each clip's median bone lengths, left/right averaged,
                             its bone directions kept (rebuilt from the root along the tree);
  other                      another lifter's S_dd on the same 2D (OTHER_POSE3D.h5): an
                             ensemble of two lifters.
Their 2D rows are the weak perspective of the replaced S_pp and fusion."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
from scipy.ndimage import gaussian_filter1d

from finephys_cli.data.normalize import denormalize_2d
from finephys_cli.skeleton import H36M_PARENTS

MIRRORED = [(1, 4), (2, 5), (3, 6), (11, 14), (12, 15), (13, 16)]   # child joints of L/R bones


def fixed_bones(dd: np.ndarray) -> np.ndarray:
    parents = np.array(H36M_PARENTS)
    bone = dd[:, 1:] - dd[:, parents[1:]]
    length = np.linalg.norm(bone, axis=-1)
    target = np.median(length, 0)
    for a, b in MIRRORED:
        target[a - 1] = target[b - 1] = 0.5 * (target[a - 1] + target[b - 1])
    unit = bone / np.maximum(length[..., None], 1e-9)
    out = dd.copy()
    for child in range(1, 17):       # parents come before their children in H36M order
        out[:, child] = out[:, parents[child]] + unit[:, child - 1] * target[child - 1]
    return out


def write_variant(phys: Path, truth: Path, out_dir: Path, name: str, make_pp) -> None:
    dst = out_dir / f"phys.{name}.h5"
    shutil.copy(phys, dst)
    with h5py.File(dst, "r+") as f:
        for vid in f["videos"]:
            g = f["videos"][vid]
            dd = g["pose3d_dd"][()].astype(np.float64)
            pp = make_pp(vid, dd)
            fused = 0.5 * (dd + pp)
            g["pose3d_pp"][...] = pp
            g["pose3d_fused"][...] = fused
            g["pose2d_fused"][...] = denormalize_2d(fused[..., :2], g["root2d"][()],
                                                    float(g["scale"][()]))
    subprocess.run(["finephys", "eval-poses", str(dst), "--truth", str(truth), "-o",
                    str(out_dir / f"eval.{name}.json")], check=True, capture_output=True)
    print(out_dir / f"eval.{name}.json")


def main() -> None:
    phys, truth, out_dir = map(Path, sys.argv[1:4])
    out_dir.mkdir(parents=True, exist_ok=True)
    for sigma in (1, 2, 4):
        write_variant(phys, truth, out_dir, f"smooth{sigma}",
                      lambda vid, dd, s=sigma: gaussian_filter1d(dd, s, axis=0, mode="nearest"))
    write_variant(phys, truth, out_dir, "bones", lambda vid, dd: fixed_bones(dd))
    if len(sys.argv) > 4:
        with h5py.File(sys.argv[4]) as other:
            poses = {vid: other["videos"][vid]["pose3d_dd"][()].astype(np.float64)
                     for vid in other["videos"]}
        write_variant(phys, truth, out_dir, "other", lambda vid, dd: poses[vid])


if __name__ == "__main__":
    main()
