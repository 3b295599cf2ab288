"""Diagnostic (session 18, negative): can a physics prior undo the detector's left/right swaps?
A swap reads a turning body as its depth mirror, whose yaw rate is reversed, so switching
between the two readings at a side view would take a large angular acceleration. Per frame this
chooses between the lifted 3D of the detected labelling (A) and of its left/right swap (B) by a
Viterbi path over pairs of states that minimises the change of the torso's angular velocity,
then keeps the one of the path and its mirror that agrees with most frames. With TRUTH.h5 it
also prints that cost for all-A, all-B and the truth's own labelling.
    finephys lift DET.h5 -o A.h5;  (DET with every frame swapped) -> finephys lift -o B.h5
    python benchmarks/skeletons/torso_spin_relabel.py DET.h5 A.h5 B.h5 OUT.h5 [PRIOR [TRUTH.h5]]"""
import shutil
import sys
from pathlib import Path

import h5py
import numpy as np
from scipy.spatial.transform import Rotation

sys.path.insert(0, str(Path(__file__).resolve().parent))
from detect_2d_error import P, frame_errors  # noqa: E402


def torso_frames(pose: np.ndarray) -> np.ndarray:
    """(T,17,3) H36M -> (T,3,3) torso axes as columns: left-to-right hip, up, forward."""
    x = pose[:, 1] - pose[:, 4]
    y = pose[:, 8] - pose[:, 0]
    x = x / np.linalg.norm(x, axis=-1, keepdims=True)
    z = np.cross(x, y)
    z /= np.linalg.norm(z, axis=-1, keepdims=True)
    return np.stack([x, np.cross(z, x), z], -1)


def spin_steps(frames: list[np.ndarray]) -> np.ndarray:
    """(T,2,2,3): the rotation vector from frame t-1 in reading p to frame t in reading s."""
    t = len(frames[0])
    om = np.zeros((t, 2, 2, 3))
    for i in range(1, t):
        for p in (0, 1):
            for s in (0, 1):
                om[i, p, s] = Rotation.from_matrix(frames[s][i] @ frames[p][i - 1].T).as_rotvec()
    return om


def path_cost(om: np.ndarray, path: np.ndarray) -> float:
    steps = [om[i, path[i - 1], path[i]] for i in range(1, len(path))]
    return float(sum(np.linalg.norm(steps[i] - steps[i - 1]) for i in range(1, len(steps))))


def choose(om: np.ndarray, prior: float) -> np.ndarray:
    t = len(om)
    cost = np.array([[prior * (p + s) for s in (0, 1)] for p in (0, 1)], float)
    back = np.zeros((t, 2, 2), int)
    for i in range(2, t):
        new = np.empty((2, 2))
        for p in (0, 1):
            for s in (0, 1):
                options = [cost[q, p] + np.linalg.norm(om[i, p, s] - om[i - 1, q, p])
                           for q in (0, 1)]
                back[i, p, s] = int(np.argmin(options))
                new[p, s] = min(options) + prior * s
        cost = new
    path = np.zeros(t, int)
    path[-2], path[-1] = np.unravel_index(int(np.argmin(cost)), cost.shape)
    for i in range(t - 1, 1, -1):
        path[i - 2] = back[i, path[i - 1], path[i]]
    return 1 - path if path.mean() > 0.5 else path


if __name__ == "__main__":
    det, lift_a, lift_b, out = sys.argv[1:5]
    prior = float(sys.argv[5]) if len(sys.argv) > 5 else 0.05
    truth = sys.argv[6] if len(sys.argv) > 6 else None
    shutil.copy(det, out)
    changed = total = 0
    with h5py.File(out, "r+") as f, h5py.File(lift_a) as a, h5py.File(lift_b) as b:
        tru = h5py.File(truth) if truth else None
        for vid in f["videos"]:
            om = spin_steps([torso_frames(x["videos"][vid]["pose3d_dd"][()]) for x in (a, b)])
            path = choose(om, prior)
            g = f["videos"][vid]
            for name in ("keypoints2d", "scores"):
                x = g[name][()]
                x[path == 1] = x[path == 1][:, P]
                g[name][...] = x
            changed += int(path.sum())
            total += len(path)
            if tru is not None:
                _, _, e, es = frame_errors(g, tru["videos"][vid])
                oracle = (es < e).astype(int)     # after relabelling: 0 where it now agrees
                oracle = np.where(path == 1, 1 - oracle, oracle)
                zeros = np.zeros(len(path), int)
                print(f"{vid}: torso spin change all-A {path_cost(om, zeros):.2f}, all-B "
                      f"{path_cost(om, 1 - zeros):.2f}, truth's labelling "
                      f"{path_cost(om, oracle):.2f}", file=sys.stderr)
    print(f"relabelled {changed} of {total} frames", file=sys.stderr)
    print(out)
