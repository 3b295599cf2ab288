"""Diagnostic only, never a result to report as the lifter's: a copy of a detect file in which
each frame's left/right labelling is the one closer to the truth's exact 2D, so lifting it
measures what the detector's left/right swaps cost in 3D (the faceless humanoid's front and
back look alike, and the detector swaps them in long runs).
    python benchmarks/skeletons/oracle_relabel.py DETECT.h5 TRUTH.h5 OUT.h5"""
import shutil
import sys
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from detect_2d_error import P as perm, frame_errors  # noqa: E402

src, truth, out = (Path(a) for a in sys.argv[1:4])
shutil.copy(src, out)
swapped = total = 0
with h5py.File(out, "r+") as det, h5py.File(truth, "r") as tru:
    for vid in det["videos"]:
        g = det["videos"][vid]
        _, _, e, es = frame_errors(g, tru["videos"][vid])
        sw = ~np.isnan(e) & (es < e)
        for name in ("keypoints2d", "scores"):
            if name in g:
                a = g[name][()]
                a[sw] = a[sw][:, perm]
                g[name][...] = a
        swapped += int(sw.sum())
        total += int((~np.isnan(e)).sum())
print(f"relabelled {swapped} of {total} frames with a person ({swapped / max(total, 1):.1%})",
      file=sys.stderr)
print(out)
