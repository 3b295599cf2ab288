"""Per-video 2D error of a detect file against its truth's keypoints2d_exact: frames with a
person, share of frames closer with left/right swapped, median error, and a frame strip
('.' none, '-' as labelled, 'S' swapped).
    python benchmarks/skeletons/detect_2d_error.py DETECT.h5 TRUTH.h5"""
import sys
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from finephys_cli.skeleton import H36M_FLIP_PERM  # noqa: E402

P = list(H36M_FLIP_PERM)


def frame_errors(det_video, truth_video):
    """(the detect 2D, the exact 2D at its frames, per-frame mean joint error as labelled,
    the same with left and right swapped)."""
    d = det_video['keypoints2d'][()]
    t = truth_video['keypoints2d_exact'][()]
    t = t[np.searchsorted(truth_video.attrs['frame_indices'], det_video.attrs['frame_indices'])]
    e = np.nanmean(np.linalg.norm(d - t, axis=-1), -1)
    es = np.nanmean(np.linalg.norm(d[:, P] - t, axis=-1), -1)
    return d, t, e, es


if __name__ == "__main__":
    det = h5py.File(sys.argv[1]); tru = h5py.File(sys.argv[2])
    tot = dict(n=0, found=0, sw=0, e=[], es=[], best=[])
    for vid in det['videos']:
        d, t, e, es = frame_errors(det['videos'][vid], tru['videos'][vid])
        ok = ~np.isnan(e)
        sw = ok & (es < e)
        h = np.ptp(t[..., 1], axis=1).mean()
        seq = ''.join('.' if not o else ('S' if s else '-') for o, s in zip(ok, sw))
        print(f"{vid:20s} h={h:5.0f} found={ok.mean():.2f} swapped={sw[ok].mean():.2f} "
              f"err={np.nanmedian(e):5.1f} best={np.nanmedian(np.minimum(e, es)):5.1f}  {seq}")
        tot['n'] += len(e); tot['found'] += ok.sum(); tot['sw'] += sw.sum()
        tot['e'] += list(e[ok]); tot['best'] += list(np.minimum(e, es)[ok])
    print('found', tot['found'] / tot['n'], 'swapped', tot['sw'] / tot['found'],
          'median err', np.median(tot['e']), 'median best-of-swap', np.median(tot['best']))
