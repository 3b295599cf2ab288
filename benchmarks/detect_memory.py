"""Peak memory of `finephys detect --frames all` against video length (issue: robust batches).

Writes synthetic 320x240 videos of N frames (a bar moving over a flat background, encoded as
they are drawn), runs `finephys detect VIDEO OUT.h5 --frames all` on each in a fresh process
and reports the largest resident set of that process and its decoding workers.

    python benchmarks/detect_memory.py --frames 1500 15000 --out results.json
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MEASURE = ("import resource, subprocess, sys; "
           "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)")


def write_long_video(path: Path, frames: int, width: int = 320, height: int = 240) -> None:
    import av

    with av.open(str(path), "w") as out:
        st = out.add_stream("mpeg4", rate=25)
        st.width, st.height, st.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            img = np.full((height, width, 3), 90, np.uint8)
            x = (3 * i) % (width - 40)
            img[height // 4: 3 * height // 4, x:x + 30] = 200
            for packet in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in st.encode():
            out.mux(packet)


def peak_rss_mib(cmd: list[str]) -> tuple[float, int, float]:
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", MEASURE, *cmd], capture_output=True, text=True,
                         check=True)
    kib, rc = res.stdout.split()
    return int(kib) / 1024, int(rc), time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, nargs="+", default=[1500, 15000])
    ap.add_argument("--imgsz", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.frames:
            video = Path(tmp) / f"v{n}.mp4"
            write_long_video(video, n)
            rss, rc, secs = peak_rss_mib([sys.executable, "-m", "finephys_cli", "detect",
                                          str(video), str(Path(tmp) / f"d{n}.h5"), "--frames",
                                          "all", "--imgsz", str(args.imgsz), "--device",
                                          args.device, "--progress", "none", "-q"])
            rows.append({"frames": n, "max_rss_mib": round(rss, 1), "exit_code": rc,
                         "seconds": round(secs, 1)})
            print(rows[-1], file=sys.stderr, flush=True)
    res = {"what": "max RSS of finephys detect --frames all (process + decoding workers)",
           "video": "320x240 mpeg4, 25 fps", "imgsz": args.imgsz, "device": args.device,
           "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
           "rows": rows,
           "ratio_longest_to_shortest": round(rows[-1]["max_rss_mib"] / rows[0]["max_rss_mib"],
                                              3)}
    text = json.dumps(res, indent=1)
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
