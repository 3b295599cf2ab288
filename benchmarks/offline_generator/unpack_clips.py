"""Restore a finephys.clips file from pack_clips.py's .npz (JPEG-decoded frames)."""

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("packed", type=Path)
    ap.add_argument("-o", "--output", type=Path, required=True)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from finephys_cli.io.poses_h5 import PoseFileWriter

    z = np.load(args.packed)
    n, f = (int(v) for v in z["shape"][:2])
    off, jpeg = z["offsets"], z["jpeg"]
    with PoseFileWriter(args.output, format="finephys.clips", config={"packed": str(args.packed)},
                        config_hash="unpacked", overwrite=True,
                        root_attrs={"size": int(z["shape"][2]), "frames": f}) as w:
        for i in range(n):
            frames = np.stack([np.asarray(Image.open(io.BytesIO(
                jpeg[off[i * f + k]:off[i * f + k + 1]].tobytes())).convert("RGB"))
                for k in range(f)])
            w.write_video(str(z["ids"][i]), {"prompt": str(z["prompts"][i]),
                                             "gym99_class": int(z["classes"][i]), "n_frames": f},
                          {"frames": frames, "keypoints2d": z["keypoints"][i],
                           "scores": z["scores"][i], "crop_box": z["crop_box"][i]})
        w.finish()
    print(args.output)


if __name__ == "__main__":
    main()
