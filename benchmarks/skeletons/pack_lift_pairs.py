"""Pack detector outputs with a slimmed truth for device_d.sh, small enough to travel
beside the tracked tree (the device takes 64 MiB in all):
    python benchmarks/skeletons/pack_lift_pairs.py OUTDIR TRUTH.h5=SET_det_A.h5,SET_det_B.h5 ...
e.g. train/hum/truth.h5=hum_det_renders.h5,hum_det_stock.h5. Writes OUTDIR/data.tar.xz with
SET_truth.h5 for each set (only what `train-lift --data DET+TRUTH` reads, plus the 2D its format
needs; SET is the detector files' name before `_det_`) and each detector file under its name."""

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
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    members = []
    for spec in sys.argv[2:]:
        truth, dets = spec.split("=", 1)
        detections = [Path(d) for d in dets.split(",")]
        names = {d.name.split("_det_")[0] for d in detections}
        if len(names) != 1 or not all("_det_" in d.name for d in detections):
            sys.exit(f"{spec}: the detector files of one truth need one SET_det_ prefix")
        slim = out / f"{names.pop()}_truth.h5"
        slim_truth(Path(truth), slim)
        members += [slim, *detections]
    with tarfile.open(out / "data.tar.xz", "w:xz") as tar:
        for path in members:
            tar.add(path, arcname=path.name)
    print(out / "data.tar.xz")
