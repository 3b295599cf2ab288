"""`detect` end to end (decoding included) against a bare Ultralytics predict loop over the same,
already decoded frames, on one device. Usage:

    python benchmarks/detect_bench.py --device cuda --videos 16 [--batch 32] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path



def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--videos", type=int, default=16)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    import torch
    from ultralytics import YOLO

    from finephys_cli.io.video import read_frames
    from finephys_cli.models.detectors import UltralyticsPose, bundled_yolo_pose
    from finephys_cli.stages.detect import DetectConfig, run_detect
    from finephys_cli.stages.synth import SynthConfig, run_synth

    work = Path(tempfile.mkdtemp())
    per_class = -(-args.videos // 35)
    run_synth(SynthConfig(classes="all", per_class=per_class), work / "s.h5",
              videos=work / "v", progress="none")
    for extra in sorted((work / "v").glob("*.mp4"))[args.videos:]:
        extra.unlink()
    videos = sorted((work / "v").glob("*.mp4"))
    frames = [read_frames(v)[0] for v in videos]
    n_frames = sum(len(f) for f in frames)
    half = args.device.startswith("cuda")
    dev = "0" if args.device == "cuda" else args.device
    model = YOLO(str(bundled_yolo_pose()))
    precision = {"quantize": 16} if half else {}

    def baseline() -> float:
        t0 = time.perf_counter()
        for clip in frames:
            for s in range(0, len(clip), args.batch):
                model.predict([f[..., ::-1] for f in clip[s:s + args.batch]], imgsz=args.imgsz,
                              conf=0.25, classes=[0], device=dev, verbose=False, **precision)
        if half:
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    detector = UltralyticsPose(None, device=args.device, imgsz=args.imgsz, half=half)
    cfg = DetectConfig(frames=None, batch_size=args.batch, imgsz=args.imgsz)

    def ours(k: int) -> float:
        t0 = time.perf_counter()
        run_detect(cfg, [work / "v"], work / f"d{k}.h5", device=args.device, progress="none",
                   detector=detector)
        if half:
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    baseline()
    ours(0)                        # warm-up of both paths
    t_base = min(baseline() for _ in range(2))
    t_ours = min(ours(k) for k in (1, 2))
    device = torch.cuda.get_device_name(0) if half else \
        f"{platform.machine()} CPU, {torch.get_num_threads()} threads"
    result = {"benchmark": "detect end to end vs bare ultralytics predict", "device": device,
              "videos": len(videos), "frames": n_frames, "imgsz": args.imgsz,
              "batch": args.batch, "precision": "fp16" if half else "fp32",
              "baseline_predict_fps": round(n_frames / t_base, 1),
              "finephys_detect_fps_incl_decode_and_write": round(n_frames / t_ours, 1),
              "ratio": round(t_base / t_ours, 3)}
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
