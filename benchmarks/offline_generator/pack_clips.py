"""Pack finephys.clips files as JPEG frames (q=92) in one .npz, small enough to carry to a
lent GPU machine (the device tool moves at most 64 MiB); unpack_clips.py restores a clips file.
Only a transfer format: on your own machine, train on the clips files directly."""

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("clips", nargs="+", type=Path)
    ap.add_argument("-o", "--output", type=Path, required=True)
    ap.add_argument("--quality", type=int, default=92)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from finephys_cli.stages.clips import load_clips

    data = load_clips(args.clips)
    blobs, offsets = [], [0]
    for clip in data.frames:
        for frame in clip:
            buf = io.BytesIO()
            Image.fromarray(frame).save(buf, format="JPEG", quality=args.quality)
            blobs.append(np.frombuffer(buf.getvalue(), np.uint8))
            offsets.append(offsets[-1] + len(blobs[-1]))
    np.savez(args.output, jpeg=np.concatenate(blobs), offsets=np.asarray(offsets),
             shape=np.asarray(data.frames.shape), keypoints=data.keypoints, scores=data.scores,
             prompts=np.asarray(data.prompts), classes=data.classes, ids=np.asarray(data.ids),
             crop_box=data.crop_box)
    print(args.output, f"{args.output.stat().st_size / 2**20:.1f} MiB", file=sys.stderr)


if __name__ == "__main__":
    main()
