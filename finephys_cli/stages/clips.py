"""`prepare-clips`: training samples for the generator as a finephys.clips file.

Each sample is F frames spanning the clip (the sampling `generate` uses), cropped square around
the performer with the `render-heatmaps` crop, resized to size², with the 2D skeleton in crop
pixels and the extended prompt. Sources:
- a pose file (synth / pose2d / phys) whose videos are linked by `source_path` or found in
  `--videos DIR/<video_id>.mp4`; a phys file also carries S_dd for the PhysNet-in-the-loop step;
- a COCO-style keypoint annotation JSON with its images (HumanArt): image + skeleton pairs,
  one frame each.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..configs import config_hash
from ..console import log, track
from ..errors import InputError, NoValidJointsError, UsageError
from ..generation.conditioning import clip_pose, crop_clip
from ..io.manifest import IMAGE_EXTS, linked_video
from ..io.fingerprint import file_fingerprint
from ..io.clips import ClipSet, load_clips  # noqa: F401  (the reader of what this writes)
from ..io.poses_h5 import PoseFile, PoseFileWriter, video_fingerprints
from ..io.sidefiles import read_json
from ..data.camera import Camera
from ..data.classes import class_by_id
from ..data.mannequin import MannequinRenderer
from ..data.prompts import extend_with
from ..io.video import read_frames
from ..skeleton import coco_to_h36m

CLIP_POSE_FORMATS = ("finephys.pose2d", "finephys.synth", "finephys.phys")


@dataclass
class ClipsConfig:
    size: int = 384
    frames: int = 16
    pad: float = 0.15
    pose_source: str = "auto"     # generation/conditioning.py POSE_SOURCES
    render: str = "none"          # synth files: none (read the mp4s), shaded or parts (render
                                  # the mannequin of the sampled frames directly: lossless)
    min_keypoints: int = 8        # COCO: people with fewer labelled joints are skipped


def crop_frames(frames: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """(T,H,W,3) uint8 -> (T,size,size,3) of the square whole-pixel box (conditioning.crop_box),
    zero outside the image."""
    import torch
    from torchvision.transforms.v2.functional import resized_crop

    x0, y0, side = (int(v) for v in box)
    t = torch.from_numpy(np.array(frames, copy=True)).permute(0, 3, 1, 2)
    out = resized_crop(t, top=y0, left=x0, height=side, width=side, size=[size, size],
                       antialias=True)
    return out.permute(0, 2, 3, 1).numpy()


def read_source_frames(path: Path, idx: np.ndarray) -> np.ndarray:
    """Frames `idx` of a video file, or of a folder of frame images (sorted by name)."""

    if Path(path).is_dir():
        from PIL import Image

        images = sorted(p for p in Path(path).iterdir() if p.suffix.lower() in IMAGE_EXTS)
        if not images:
            raise InputError(f"{path}: no frame images ({', '.join(IMAGE_EXTS)})")
        if int(np.max(idx)) >= len(images):
            raise InputError(f"{path}: {len(images)} frame images, but frame {int(np.max(idx))} "
                             f"is needed")
        return np.stack([np.asarray(Image.open(images[i]).convert("RGB")) for i in idx])
    return read_frames(path, idx)[0]


def _render(pf: PoseFile, vid: str, idx: np.ndarray, palette: str) -> np.ndarray:
    """The mannequin of a synth clip's sampled frames, through its stored camera."""

    if not pf.has(vid, "pose3d_world") or not pf.has(vid, "camera_K"):
        raise InputError(f"{pf.path}: --render needs a synth file (pose3d_world and camera)")
    a = pf.video_attrs(vid)
    cam = Camera(pf.read(vid, "camera_K"), pf.read(vid, "camera_R")[idx],
                 pf.read(vid, "camera_t")[idx], (int(a["width"]), int(a["height"])))
    rng = np.random.default_rng([int(a.get("seed", 0)), int(a.get("sample_index", 0)),
                                 int(a.get("gym99_class", 0))])
    return MannequinRenderer(cam, rng, palette).render(pf.read(vid, "pose3d_world")[idx])


def _prompt_for(attrs: dict) -> tuple[str, int]:

    cls_id = int(attrs.get("gym99_class", -1))
    if cls_id >= 0:
        c = class_by_id(cls_id)
        return extend_with(c.label, c), cls_id
    return str(attrs.get("label") or "a gymnast performing on the floor"), -1


def run_prepare_clips(cfg: ClipsConfig, path: Path, output: Path, *, videos: Path | None = None,
                      images: Path | None = None, overwrite: bool = False,
                      progress: str = "auto") -> Path:
    if cfg.size < 16 or cfg.frames < 1:
        raise UsageError("--size must be at least 16 and --frames at least 1")
    if Path(path).suffix.lower() == ".json":
        return _prepare_coco(cfg, Path(path), output, images, overwrite, progress)
    chash = config_hash({**asdict(cfg), "videos": str(videos) if videos else None})
    with PoseFile(path, formats=CLIP_POSE_FORMATS) as pf, \
            PoseFileWriter(output, format="finephys.clips", config=asdict(cfg),
                           config_hash=chash, provenance=[path], overwrite=overwrite,
                           root_attrs={"size": cfg.size, "frames": cfg.frames},
                           inputs=video_fingerprints(pf, pf.video_ids)) as w:
        if w.skipped:
            return output
        for vid in track(pf.video_ids, description="prepare-clips", unit="clip", mode=progress):
            if w.is_complete(vid):
                continue
            with w.guard(vid, f"{path}:{vid}"):
                _write_clip(w, pf, vid, cfg, videos)
        return w.finish()


def _write_clip(w: PoseFileWriter, pf: PoseFile, vid: str, cfg: ClipsConfig,
                videos: Path | None) -> None:
    """One video -> its training clip; a video without a single valid joint is left out (it
    is no sample, and no failure either)."""
    try:
        pose = clip_pose(pf, vid, source=cfg.pose_source, frames=cfg.frames, size=cfg.size,
                         pad=cfg.pad)
    except NoValidJointsError:
        log.warning("%s: no valid joints; skipped", vid)
        return
    idx = pose.frame_indices
    frames = _render(pf, vid, idx, cfg.render) if cfg.render != "none" else \
        read_source_frames(linked_video(pf.path, vid, pf.video_attrs(vid).get("source_path"),
                                        videos), idx)
    crops = crop_frames(frames, pose.crop_box, cfg.size)
    attrs = pf.video_attrs(vid)
    prompt, cls_id = _prompt_for(attrs)
    arrays = {"frames": crops, "keypoints2d": pose.keypoints.astype(np.float32),
              "scores": pose.scores.astype(np.float32), "crop_box": pose.crop_box}
    if pf.has(vid, "pose3d_dd"):
        arrays.update(pose3d_dd=pf.read(vid, "pose3d_dd")[idx],
                      root2d=pf.read(vid, "root2d")[idx],
                      scale=np.float32(pf.read(vid, "scale")))
    w.write_video(vid, {"prompt": prompt, "gym99_class": cls_id,
                        "label": str(attrs.get("label", "")), **pose.record(),
                        "n_frames": cfg.frames, "fps": float(attrs.get("fps", 25.0))}, arrays)


def _prepare_coco(cfg: ClipsConfig, ann: Path, output: Path, images: Path | None,
                  overwrite: bool, progress: str) -> Path:
    """COCO keypoint JSON (HumanArt's format) + image folder -> one-frame samples."""
    from PIL import Image


    if images is None:
        raise InputError("a COCO annotation file needs --images DIR (the image root)")
    data = read_json(ann, "a COCO annotation file")
    listed = (data.get("images"), data.get("annotations")) if isinstance(data, dict) \
        else (None, None)
    if not (all(isinstance(x, list) for x in listed)
            and all(isinstance(x, dict) for x in listed[0] + listed[1])):
        raise InputError(f"{ann}: not a COCO annotation file (needs lists of images and "
                         "annotations)")
    if not all("id" in im and "file_name" in im for im in data["images"]):
        raise InputError(f"{ann}: every COCO image needs an id and a file_name")
    by_id = {im["id"]: im for im in data["images"]}
    people = [a for a in data["annotations"] if a.get("num_keypoints", 0) >= cfg.min_keypoints
              and a.get("image_id") in by_id]
    chash = config_hash({**asdict(cfg), "images": str(images)})
    ann_fingerprint = file_fingerprint(ann)
    with PoseFileWriter(output, format="finephys.clips", config=asdict(cfg), config_hash=chash,
                        provenance=[ann], overwrite=overwrite,
                        root_attrs={"size": cfg.size, "frames": 1},
                        inputs={f"coco_{a['id']}": ann_fingerprint for a in people}) as w:
        if w.skipped:
            return output
        for a in track(people, description="prepare-clips", unit="person", mode=progress):
            vid = f"coco_{a['id']}"
            if w.is_complete(vid):
                continue
            with w.guard(vid, f"{ann}:{vid}"):
                im = by_id[a["image_id"]]
                kp = np.asarray(a["keypoints"], dtype=np.float64).reshape(17, 3)
                xy = np.where(kp[:, 2:3] > 0, kp[:, :2], np.nan)
                h36m, sc = coco_to_h36m(xy[None], (kp[:, 2] > 0).astype(float)[None])
                img_path = Path(images) / im["file_name"]
                if not img_path.is_file():
                    raise InputError(f"image {img_path} not found")
                frame = np.asarray(Image.open(img_path).convert("RGB"))[None]
                pose = crop_clip(h36m, sc, frames=None, size=cfg.size, pad=cfg.pad, source="coco")
                crops = crop_frames(frame, pose.crop_box, cfg.size)
                prompt = im.get("description") or im.get("caption") or "a person"
                w.write_video(vid, {"prompt": str(prompt), "gym99_class": -1,
                                    "label": str(im.get("category", "")), **pose.record(),
                                    "n_frames": 1, "fps": 1.0},
                              {"frames": crops, "keypoints2d": pose.keypoints.astype(np.float32),
                               "scores": pose.scores.astype(np.float32), "crop_box": pose.crop_box})
        return w.finish()
