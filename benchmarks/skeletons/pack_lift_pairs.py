"""Pack detector outputs with a slimmed truth for device_d.sh, small enough to travel
beside the tracked tree (the device takes 64 MiB in all):
    python benchmarks/skeletons/pack_lift_pairs.py TRUTH.h5 OUTDIR hum_det_renders.h5 hum_det_stock.h5
Writes OUTDIR/data.tar.xz with hum_truth.h5 (only what `train-lift --data DET+TRUTH` reads, plus
the 2D its format needs) and each detector file under its own name."""

import sys
import tarfile
from pathlib import Path

import h5py

KEEP = {"camera_K", "keypoints2d_exact", "pose3d_camera", "keypoints2d", "scores",
        "frame_indices"}


def slim_truth(src_path: Path, dst_path: Path) -> None:
    with h5py.File(src_path, "r") as src, h5py.File(dst_path, "w") as dst:
        dst.attrs.update(src.attrs)
        for name in src:
            if name != "videos":
                src.copy(name, dst)
        videos = dst.create_group("videos")
        videos.attrs.update(src["videos"].attrs)
        for vid, group in src["videos"].items():
            kept = videos.create_group(vid)
            kept.attrs.update(group.attrs)
            for name in group:
                if name in KEEP:
                    group.copy(name, kept)


if __name__ == "__main__":
    truth, out, *detections = map(Path, sys.argv[1:])
    if not detections:
        sys.exit(__doc__)
    out.mkdir(parents=True, exist_ok=True)
    slim_truth(truth, out / "hum_truth.h5")
    with tarfile.open(out / "data.tar.xz", "w:xz") as tar:
        tar.add(out / "hum_truth.h5", arcname="hum_truth.h5")
        for det in detections:
            tar.add(det, arcname=det.name)
    print(out / "data.tar.xz")
