"""Pack rendered training clips small enough to travel to the device (64 MiB with the repo):
only the 2D the detector trains on, the videos re-encoded at a higher CRF, the truth files in
one .tar.xz.
    python benchmarks/skeletons/pack_detector_data.py OUT SET_DIR...   (each SET_DIR holds
    truth.h5 and videos/ from finephys synth --videos)"""

import sys
import tarfile
from pathlib import Path

import h5py

from finephys_cli.io.video import read_frames, write_video

KEEP = ("keypoints2d", "keypoints2d_exact", "scores", "bbox")


def copy_attrs(src, dst) -> None:
    for k, v in src.attrs.items():
        dst.attrs[k] = v


def pack(src: Path, dst: Path, crf: int = 30) -> Path:
    (dst / "videos").mkdir(parents=True, exist_ok=True)
    with h5py.File(src / "truth.h5") as f, h5py.File(dst / "truth.h5", "w") as g:
        copy_attrs(f, g)
        for name in f:
            if name != "videos":
                f.copy(name, g)
        videos = g.create_group("videos")
        for vid in f["videos"]:
            a = f["videos"][vid]
            b = videos.create_group(vid)
            copy_attrs(a, b)
            for k in KEEP:
                if k in a:
                    b.create_dataset(k, data=a[k][()], compression="gzip")
                    copy_attrs(a[k], b[k])
            frames, info = read_frames(src / a.attrs["source_path"])
            write_video(dst / a.attrs["source_path"], frames, fps=info.fps, crf=crf)
    return dst / "truth.h5"


if __name__ == "__main__":
    out = Path(sys.argv[1])
    truths = [pack(Path(s), out / Path(s).name) for s in sys.argv[2:]]
    with tarfile.open(out / "truth.tar.xz", "w:xz") as tar:
        for t in truths:
            tar.add(t, arcname=str(t.relative_to(out)))
    for t in truths:
        t.unlink()
