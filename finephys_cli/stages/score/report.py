"""The report of `score`: summaries, per-class means, scores.json and scores.csv."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from ...io.atomic import atomic_write_text


def summary(values: list[float]) -> dict:
    arr = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    if not len(arr):
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0,
            "n": int(len(arr))}


def by_class(per_video: dict) -> dict[str, dict]:
    numeric = sorted({k for row in per_video.values() for k, v in row.items()
                      if isinstance(v, float)})
    out: dict[str, dict] = {}
    for cls in sorted({str(r["class"]) for r in per_video.values()}):
        rows = [r for r in per_video.values() if str(r["class"]) == cls]
        out[cls] = {k: summary([r.get(k) for r in rows])["mean"] for k in numeric}
        out[cls]["n"] = len(rows)
    return out


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o))


def _col_order(c: str) -> tuple[int, str]:
    return ({"video": 0, "class": 1, "prompt": 2}.get(c, 3), c)


def _cell(v) -> str:
    if v is None:
        return ""
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def write_report(results: dict, per_video: dict, output: Path) -> list[Path]:
    """scores.json (everything) and scores.csv beside it (one row per video)."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    results["per_class"] = by_class(per_video)
    results["per_video"] = list(per_video.values())
    atomic_write_text(output, json.dumps(results, indent=1, default=_json_default))
    cols = sorted({k for row in per_video.values() for k in row}, key=_col_order)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(cols)
    for row in per_video.values():
        writer.writerow([_cell(row.get(c)) for c in cols])
    csv_path = output.with_suffix(".csv")
    atomic_write_text(csv_path, buf.getvalue())
    return [output, csv_path]
