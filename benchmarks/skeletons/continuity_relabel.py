"""Diagnostic (session 18, negative): a copy of a detect file in which each frame's left/right
labelling (as detected, legs swapped, arms swapped, both) is chosen by a Viterbi path that keeps
the relabelled 2D smooth from frame to frame, then composed with the one global relabelling that
agrees with most frames (every path composed with a global relabelling is as smooth). It asks
whether the detector's swaps show as 2D jumps that the frame-to-frame continuity could undo.
    python benchmarks/skeletons/continuity_relabel.py DETECT.h5 OUT.h5 [PRIOR [TRUTH.h5]]
PRIOR (default 0.02, in units of the clip's 2D height) is the cost of each frame not labelled as
detected. With TRUTH.h5 it also prints the median frame-to-frame 2D step (in units of the frame's
own keypoint extent) where the detector's labelling starts or stops disagreeing with the truth's,
and elsewhere: a swap the continuity could see would be a larger step there."""
import shutil
import sys

from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from detect_2d_error import frame_errors  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from finephys_cli.data.detector_noise import _ARM_SWAP, _LEG_SWAP  # noqa: E402

PERMS = [np.arange(17), _LEG_SWAP, _ARM_SWAP, _LEG_SWAP[_ARM_SWAP]]


def compose(a: int, b: int) -> int:
    p = PERMS[a][PERMS[b]]
    return next(k for k, q in enumerate(PERMS) if np.array_equal(p, q))


def steps_at_swap_edges(det: Path, truth: Path) -> tuple[float, float, int]:
    """(median step at the edges of the detector's swapped runs, median step elsewhere, edges)."""
    edge_steps, other_steps = [], []
    with h5py.File(det) as d, h5py.File(truth) as t:
        for vid in d["videos"]:
            kp, _, e, es = frame_errors(d["videos"][vid], t["videos"][vid])
            swapped = es < e
            with np.errstate(all="ignore"):
                extent = np.nanmax(np.nanmax(kp, 1) - np.nanmin(kp, 1), -1)
                step = np.nanmean(np.linalg.norm(np.diff(kp, axis=0), axis=-1), -1) / extent[1:]
            edge = swapped[1:] != swapped[:-1]
            edge_steps += list(step[edge])
            other_steps += list(step[~edge])
    return float(np.nanmedian(edge_steps)), float(np.nanmedian(other_steps)), len(edge_steps)


def smooth_labelling(kp: np.ndarray, prior: float) -> np.ndarray:
    """(T,17,2) keypoints -> (T,) index into PERMS."""
    t = len(kp)
    height = np.nanmax(kp[..., 1]) - np.nanmin(kp[..., 1]) if np.isfinite(kp).any() else 1.0
    cand = np.stack([kp[:, p] for p in PERMS], 1)                     # (T,4,17,2)
    cost = np.array([prior * (s != 0) for s in range(4)], float)
    back = np.zeros((t, 4), int)
    for i in range(1, t):
        step = np.linalg.norm(cand[i][:, None] - cand[i - 1][None], axis=-1)   # (4,4,17)
        with np.errstate(all="ignore"):
            jump = np.nan_to_num(np.nanmean(step, -1) / height)
        total = cost[None, :] + jump                                      # (s, r)
        back[i] = total.argmin(1)
        cost = total.min(1) + prior * (np.arange(4) != 0)
    path = np.zeros(t, int)
    path[-1] = int(cost.argmin())
    for i in range(t - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    agree = [sum(compose(g, s) == 0 for s in path) for g in range(4)]
    g = int(np.argmax(agree))
    return np.array([compose(g, s) for s in path])


if __name__ == "__main__":
    src, out = sys.argv[1], sys.argv[2]
    prior = float(sys.argv[3]) if len(sys.argv) > 3 else 0.02
    shutil.copy(src, out)
    changed = total = 0
    with h5py.File(out, "r+") as f:
        for vid in f["videos"]:
            g = f["videos"][vid]
            path = smooth_labelling(g["keypoints2d"][()], prior)
            for name in ("keypoints2d", "scores"):
                a = g[name][()]
                g[name][...] = np.stack([a[i, PERMS[s]] for i, s in enumerate(path)])
            changed += int((path != 0).sum())
            total += len(path)
    print(f"relabelled {changed} of {total} frames", file=sys.stderr)
    if len(sys.argv) > 4:
        at_edges, elsewhere, n = steps_at_swap_edges(Path(src), Path(sys.argv[4]))
        print(f"median 2D step: {at_edges:.3f} at {n} swap edges, {elsewhere:.3f} elsewhere "
              f"(of the frame's keypoint extent)", file=sys.stderr)
    print(out)
