"""Seconds per 16x128² video of offline-generator bundles, back to back in one process, with
pose CFG off and on (25 DDIM steps, fp32; CPU by default).

    python benchmarks/offline_generator/cpu_sample_time.py OLD_BUNDLE NEW_BUNDLE --repeat 2
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("bundles", type=Path, nargs="+")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    import torch

    from finephys_cli.generation.bundle import bundle_spec, load_generator
    from finephys_cli.generation.pipeline import SampleSettings

    rng = np.random.default_rng(0)
    pose = (rng.uniform(20, 108, size=(16, 17, 2)), np.ones((16, 17)))
    rows = []
    for _ in range(args.repeat):
        for bundle in args.bundles:
            pipe = load_generator(bundle_spec(bundle), device=args.device, dtype=torch.float32)
            for pose_cfg in (False, True):
                t = time.perf_counter()
                pipe(["switch leap"], [0], SampleSettings(steps=25, frames=16, size=128,
                                                         pose_cfg=pose_cfg), poses=[pose])
                rows.append({"bundle": str(bundle), "pose_cfg": pose_cfg,
                             "seconds": round(time.perf_counter() - t, 2)})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(json.dumps({"device": args.device, "threads": torch.get_num_threads(), "rows": rows},
                     indent=1))


if __name__ == "__main__":
    main()
