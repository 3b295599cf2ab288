"""Mean ± std over seeds of eval-poses JSON files, and the per-clip ratios to each clip's static
mean pose:
    python benchmarks/skeletons/summarize.py OUT.json NAME=GLOB [NAME=GLOB ...]
Each GLOB matches one eval-poses -o JSON per seed."""

from __future__ import annotations

import glob
import json
import sys

import numpy as np

ROWS = ("static mean pose", "S_detect", "S_dd", "S_pp", "S_dd+S_MLP", "S_dd+S_pp")


def summarize(paths: list[str]) -> dict:
    runs = [json.loads(open(p).read()) for p in sorted(paths)]
    out: dict = {"seeds": len(runs), "files": sorted(paths)}
    for space in ("3d", "2d"):
        table = {}
        for row in ROWS:
            vals: dict[str, list[float]] = {}
            for r in runs:
                for entry in next(iter(r["files"].values())):
                    if entry["space"] == space and entry["source"] == row:
                        for k, v in entry.items():
                            if isinstance(v, float):
                                vals.setdefault(k, []).append(v)
            if vals:
                table[row] = {k: {"mean": float(np.mean(v)), "std": float(np.std(v))}
                              for k, v in vals.items()}
        out[space] = table
    ratios: dict[str, list[float]] = {}
    for r in runs:
        for clip, res in next(iter(r["per_video"].values())).items():
            static = res["3d"]["static mean pose"]["N-MPJPE"]
            for row in ("S_dd", "S_dd+S_pp", "S_dd+S_MLP"):
                if row in res["3d"]:
                    ratios.setdefault(row, []).append(res["3d"][row]["N-MPJPE"] / static)
    out["n_mpjpe_over_static_per_clip"] = {
        row: {"max": float(np.max(v)), "mean": float(np.mean(v)), "clips": len(v)}
        for row, v in ratios.items()}
    return out


def main() -> None:
    result = {}
    for arg in sys.argv[2:]:
        name, pattern = arg.split("=", 1)
        result[name] = summarize(glob.glob(pattern))
    with open(sys.argv[1], "w") as fh:
        json.dump(result, fh, indent=1)
    for name, res in result.items():
        for space in ("3d", "2d"):
            for row, m in res[space].items():
                keys = ("N-MPJPE", "P-MPJPE", "N-MPJVE", "MPJPE", "MPJVE") if space == "3d" \
                    else ("N-MPJPE", "MPJPE", "MPJVE", "median", "coverage")
                print(f"{name:28s} {space} {row:17s} " + "  ".join(
                    f"{k} {m[k]['mean']:.1f}±{m[k]['std']:.1f}" if k != "coverage" else
                    f"{k} {m[k]['mean']:.3f}" for k in keys if k in m))
        print(f"{name:28s} ratio to static, per clip: {res['n_mpjpe_over_static_per_clip']}")


if __name__ == "__main__":
    main()
