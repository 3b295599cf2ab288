"""Training clips for lifting and PhysNet: (detector-like 2D, image-aligned 3D) pairs.

Readers, each documented with where the data comes from:
- `read_pose_file`: finephys.synth files (the FX programs or DeepMimic mocap, `finephys synth`),
  and any finephys 2D file (no 3D; for the eq. 20 fine-tuning);
- `read_h36m_npz`: Human3.6M in VideoPose3D's npz layout (`data_3d_h36m.npz` with
  `positions_3d[subject][action]` (T,32,3) m, `data_2d_h36m_gt.npz` with
  `positions_2d[subject][action][camera]` (T,17,2) px). Get them with VideoPose3D's
  `prepare_data_h36m.py` from the official H36M release. Cameras are recovered per sequence by
  DLT from the 2D-3D correspondences, so no camera table is needed;
- `read_amass_joints`: AMASS as pre-extracted SMPL joints (`joints` (T,>=22,3), `fps`), e.g. from
  the `smplx` package's forward pass on AMASS `poses`/`betas`. SMPL joints map to H36M-17 directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from .deepmimic import refuse_reserved
from .h36m import read_h36m_sequences
from .normalize import image_aligned_3d, normalize_2d, normalize_3d, root_track
from ..io.poses_h5 import POSE2D_FORMATS, PoseFile


@dataclass
class Clip:
    video_id: str
    kp2d: np.ndarray                 # (T,17,2) px, NaN where missing
    scores: np.ndarray               # (T,17)
    aligned3d: np.ndarray | None     # (T,17,3) image-aligned px, or None (2D-only data)
    meta: dict = field(default_factory=dict)


def read_pose_file(path: Path, allow_reserved: bool = False, video_ids: list[str] | None = None,
                   truth: Path | None = None) -> list[Clip]:
    """The 2D of a finephys file with its own 3D truth (synth), or with the truth of another
    file (`truth`: e.g. `detect` run on synth videos, paired with that synth file by video id
    and frame_indices: training on what the detector really produces)."""
    from .truth import load_truth, truth_in

    table = load_truth(str(truth), allow_reserved) if truth is not None else None
    with PoseFile(path, formats=POSE2D_FORMATS) as pf:
        refuse_reserved(pf, allow_reserved)
        clips = []
        for vid in video_ids or pf.video_ids:
            kp, sc = pf.read(vid, "keypoints2d"), pf.read(vid, "scores")
            attrs = pf.video_attrs(vid)
            aligned = None
            meta = {"fps": float(attrs.get("fps", 25.0))}
            found = truth_in(pf, vid) if table is None else table.get(vid)
            if table is not None and found is None:
                raise InputError(f"{path}: video {vid} is not in the truth file {truth}")
            if found is not None:
                if table is not None:
                    found = found.at(attrs.get("frame_indices"), len(kp), f"{path}:{vid}")
                aligned = image_aligned_3d(found.camera3d, found.K)
                meta.update(focal=float(found.K[0, 0]), z_root=found.camera3d[:, 0, 2])
            clips.append(Clip(vid, kp.astype(np.float64), sc.astype(np.float64), aligned, meta))
        return clips


SMPL_TO_H36M = {0: (0,), 1: (2,), 2: (5,), 3: (8,), 4: (1,), 5: (4,), 6: (7,), 7: (3, 6),
                8: (12,), 9: (15,), 10: (15,), 11: (16,), 12: (18,), 13: (20,), 14: (17,),
                15: (19,), 16: (21,)}


def read_h36m_npz(path_3d: Path, path_2d: Path, subjects: tuple[str, ...] | None = None
                  ) -> list[Clip]:
    return [Clip(seq.video_id, seq.uv, np.ones(seq.uv.shape[:2]),
                 image_aligned_3d(seq.camera3d, seq.K),
                 {"fps": 50.0, "focal": float(seq.K[0, 0]), "z_root": seq.camera3d[:, 0, 2]})
            for seq in read_h36m_sequences(path_3d, path_2d, subjects)]


def smpl_to_h36m(joints: np.ndarray) -> np.ndarray:
    """SMPL joints (T,>=22,3) -> H36M-17 directly (not Skeleton-in-Context's shifted map)."""
    return np.stack([joints[:, list(src)].mean(1) for _, src in sorted(SMPL_TO_H36M.items())], 1)


def read_amass_joints(path: Path, rng: np.random.Generator, z_up: bool = True) -> list[Clip]:
    """Pre-extracted AMASS SMPL joints, seen through a random broadcast camera with the synth
    detector noise model."""
    from .detector_noise import film

    if not Path(path).is_file():
        raise InputError(f"{path}: no such AMASS joints file (amass:FILE, an npz with joints "
                         "and fps)")
    data = np.load(path)
    joints = smpl_to_h36m(data["joints"])
    if z_up:   # AMASS world is z-up; finephys worlds are y-up
        joints = joints[..., [0, 2, 1]] * np.array([1, 1, -1])
    joints[..., 1] -= joints[..., 1].min()
    fps = float(data["fps"]) if "fps" in data else 60.0
    from .deepmimic import resample

    joints = resample(np.arange(len(joints)) / fps, joints, 25.0)
    cam, cam_pts, _, obs = film(joints, rng, 25.0)
    return [Clip(f"amass_{Path(path).stem}", obs.keypoints.astype(np.float64),
                 obs.scores.astype(np.float64), image_aligned_3d(cam_pts, cam.K),
                 {"fps": 25.0, "focal": float(cam.K[0, 0]), "z_root": cam_pts[:, 0, 2]})]


def window_starts(t: int, frames: int, stride: int) -> list[int]:
    """Window starts covering t frames; the last window ends at the clip's end."""
    starts = list(range(0, max(t - frames, 0) + 1, stride))
    if starts[-1] + frames < t:
        starts.append(t - frames)
    return starts


def window_rows(start: int, frames: int, t: int) -> np.ndarray:
    """Frame indices of one window, edge-padded past the clip's end."""
    return np.clip(np.arange(start, start + frames), 0, t - 1)


def overlap_mean(values: np.ndarray, starts: list[int] | np.ndarray, t: int) -> np.ndarray:
    """Per-window values (N,F,...) back to (T,...): the mean over the windows covering each
    frame, skipping NaN entries (NaN where nothing was evaluated)."""
    acc = np.zeros((t,) + values.shape[2:])
    cnt = np.zeros((t,) + values.shape[2:])
    for w, s in enumerate(starts):
        n = min(values.shape[1], t - s)
        v = values[w, :n]
        ok = ~np.isnan(v)
        acc[s:s + n] += np.where(ok, v, 0.0)
        cnt[s:s + n] += ok
    return np.where(cnt > 0, acc / np.maximum(cnt, 1), np.nan)


def clip_windows(clip: Clip, frames: int, stride: int) -> dict[str, np.ndarray]:
    """Normalise the whole clip once, then cut (padded) windows.

    Returns query (N,F,17,3) = (x, y, score) with missing joints (0, 0, 0), target (N,F,17,3)
    or absent, the `valid` mask (N,F) of real (unpadded) frames, the window `starts`, and the
    clip's normalisation `root2d` (T,2) and `scale`."""
    xy, root, scale = normalize_2d(clip.kp2d)
    missing = np.isnan(xy).any(-1)
    query = np.concatenate([np.nan_to_num(xy), np.where(missing, 0.0, clip.scores)[..., None]], -1)
    target = normalize_3d(clip.aligned3d, root, scale) if clip.aligned3d is not None else None
    t = len(query)
    starts = window_starts(t, frames, stride)
    out: dict[str, list] = {"query": [], "valid": [], "target": []}
    for s in starts:
        idx = window_rows(s, frames, t)
        out["query"].append(query[idx])
        out["valid"].append(np.arange(s, s + frames) < t)
        if target is not None:
            out["target"].append(target[idx])
    res = {k: np.stack(v) for k, v in out.items() if v}
    res["starts"] = np.array(starts)
    res["root2d"], res["scale"] = root, np.float64(scale)
    return res


def load_training_clips(specs: list[str], allow_reserved: bool = False, seed: int = 0
                        ) -> list[Clip]:
    """`--data` entries: a finephys file, `DETECT.h5+TRUTH.h5` (a 2D file whose truth is in
    another file), `h36m:DIR` (VideoPose3D npz pair) or `amass:FILE`."""
    clips: list[Clip] = []
    rng = np.random.default_rng(seed)
    for spec in specs:
        if spec.startswith("h36m:"):
            root = Path(spec[5:])
            clips += read_h36m_npz(root / "data_3d_h36m.npz", root / "data_2d_h36m_gt.npz")
        elif spec.startswith("amass:"):
            clips += read_amass_joints(Path(spec[6:]), rng)
        elif "+" in spec and not Path(spec).exists():
            det, truth = spec.split("+", 1)
            clips += read_pose_file(Path(det), allow_reserved, truth=Path(truth))
        else:
            clips += read_pose_file(Path(spec), allow_reserved)
    # A video where the detector never found the pelvis or a hip (nobody at all, or a body cut
    # off at the waist) has no root to normalise by: its target would be all NaN, and one such
    # clip in the validation share made every validation NaN.
    # Per clip, not per video id: the other detector's 2D of the same video may be fine.
    rooted = [not np.isnan(root_track(c.kp2d)).all() for c in clips]
    if not all(rooted):
        from ..console import log

        names = [c.video_id for c, ok in zip(clips, rooted) if not ok]
        log.warning("skipping %d training clip(s) without a detected pelvis or hip: %s",
                    len(names), ", ".join(names[:5]) + (" ..." if len(names) > 5 else ""))
        clips = [c for c, ok in zip(clips, rooted) if ok]
    if not clips:
        raise InputError("no training clips found in --data")
    return clips


def in_validation(video_id: str, fraction: float, seed: int) -> bool:
    """Whether a video falls in the validation share: by id hash, so deterministic and
    independent of the file order."""
    import zlib

    return (zlib.crc32(f"{seed}:{video_id}".encode()) % 1000) / 1000 < fraction


def split_clips(clips: list[Clip], fraction: float, seed: int) -> tuple[list[Clip], list[Clip]]:
    """A split by video id hash (`in_validation`)."""
    val = [c for c in clips if in_validation(c.video_id, fraction, seed)]
    ids = {c.video_id for c in val}
    return [c for c in clips if c.video_id not in ids], val


def windows_of(clips: list[Clip], frames: int, stride: int) -> dict[str, np.ndarray]:
    parts = [clip_windows(c, frames, stride) for c in clips if c.aligned3d is not None]
    if not parts:
        # Both train-lift and train-physnet --stage pretrain come here.
        raise InputError("no clips with 3D ground truth: train-lift and train-physnet --stage "
                         "pretrain need --data with 3D truth (a synth file, a "
                         "DETECT.h5+TRUTH.h5 pair, h36m:DIR or amass:FILE); a 2D-only file "
                         "(e.g. detect output) is for train-physnet --stage finetune")
    out = {k: np.concatenate([p[k] for p in parts]) for k in ("query", "target", "valid")}
    out["clip"] = np.concatenate([np.full(len(p["query"]), i) for i, p in enumerate(parts)])
    return out
