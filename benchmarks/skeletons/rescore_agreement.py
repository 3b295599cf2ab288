"""Re-score a detect file made with --rotations (so it holds rotation_spread) and the detector's
own scores, as `--rotation-scores agreement --set agreement_tau=TAU` would have scored it,
without detecting again. With PREFIX, only the videos named PREFIX... are kept, PREFIX
stripped, to match a truth file.
    python benchmarks/skeletons/rescore_agreement.py DETECT.h5 OUT.h5 TAU [PREFIX]"""
import json
import shutil
import sys
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from finephys_cli.models.detectors import agreement_scores  # noqa: E402
from finephys_cli.skeleton import coco_to_h36m  # noqa: E402


def rescore(src: str, dst: str, tau: float, prefix: str = "") -> None:
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        if json.loads(f.attrs.get("config_json", "{}")).get("rotation_scores") == "agreement":
            raise SystemExit(f"{src} is already agreement-scored: its detector scores are gone")
        for vid in list(f["videos"]):
            if prefix and not vid.startswith(prefix):
                del f["videos"][vid]
                continue
            g = f["videos"][vid]
            coco = g["keypoints2d_coco"][()]
            conf = agreement_scores(np.nan_to_num(coco[..., 2]), g["rotation_spread"][()],
                                    g["bbox"][()], tau)
            g["scores"][...] = coco_to_h36m(coco[..., :2], conf)[1].astype(np.float32)
            coco[..., 2] = conf
            g["keypoints2d_coco"][...] = coco
            if prefix:
                f["videos"].move(vid, vid[len(prefix):])


if __name__ == "__main__":
    rescore(sys.argv[1], sys.argv[2], float(sys.argv[3]), *(sys.argv[4:5]))
