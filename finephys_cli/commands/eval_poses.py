"""`finephys eval-poses`: the paper's Table 2 on any pose file with truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import JsonOpt, cli_command, split_output


@cli_command
def eval_poses(
    paths: Annotated[list[Path], typer.Argument(
        help="pose3d/phys files, then optionally OUT.json (as -o).", show_default=False)],
    truth: Annotated[str | None, typer.Option(
        help="Ground truth elsewhere: a finephys file with pose3d_camera, camera_K and "
             "keypoints2d_exact (e.g. the synth file of the videos you ran detect on), or "
             "h36m:DIR (VideoPose3D's Human3.6M npz pair); matched by video id and "
             "frame_indices. Default: the file's own.")] = None,
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="Write JSON (and a .csv beside it); or give OUT.json last.",
        show_default=False)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the paper's Table 2: S_detect / S_dd / S_pp / S_dd+S_MLP / S_dd+S_pp, beside a
    constant (each clip's static mean pose). † marks metrics scaled with the true root depth."""
    import csv
    import json

    from rich.table import Table

    from ..console import log, print_uncut, report
    from ..io.atomic import atomic_write_text
    from ..stages.eval_poses import ORACLE_SCALED, evaluate_file, table_rows

    if output is not None or (len(paths) > 1 and paths[-1].suffix.lower() == ".json"):
        paths, output = split_output(paths, output, suffixes=(".json",),
                                     inputs_share_suffix=False)
    evaluated = {str(p): evaluate_file(p, truth) for p in paths}
    results = {path: table_rows(res) for path, res in evaluated.items()}
    cols = ["MPJPE", "N-MPJPE", "P-MPJPE", "MPJVE", "N-MPJVE", "accel", "bone_std", "median",
            "coverage"]
    shown = {"3d": [c for c in cols if c not in ("median", "coverage")],
             "2d": [c for c in cols if c not in ("P-MPJPE", "bone_std")]}
    for path, rows in ({} if as_json else results).items():   # --json: the JSON alone
        for space, unit in (("3d", "mm"), ("2d", "px")):
            table = Table(title=f"Table 2 analogue, {space.upper()} ({unit}): {path}",
                          caption="† scaled with the true root depth (oracle); N-MPJPE, "
                                  "P-MPJPE, N-MPJVE need no depth" if space == "3d" else
                                  "coverage: fraction of frames with a pose")
            table.add_column("source", no_wrap=True)
            for c in shown[space]:
                oracle = space == "3d" and c in ORACLE_SCALED
                table.add_column(c + ("†" if oracle else ""), justify="right", no_wrap=True)
            for r in (r for r in rows if r["space"] == space):
                table.add_row(r["source"], *["-" if c not in r else f"{r[c]:.3f}"
                                             if c == "coverage" else f"{r[c]:.1f}"
                                             for c in shown[space]])
            # never cut: the † marks, and N-MPJPE against N-MPJVE
            print_uncut(report, table, whole=True)
    if output is not None:
        atomic_write_text(output, json.dumps(json_safe(
            {"files": results, "per_video": {p: r["videos"] for p, r in evaluated.items()},
             "oracle_scaled": list(ORACLE_SCALED), "truth": truth,
             "skipped_without_truth": {p: r["skipped_without_truth"]
                                       for p, r in evaluated.items()},
             "sampled_frames": {p: r["sampled_frames"] for p, r in evaluated.items()}}),
            indent=2))
        csv_path = output.with_suffix(".csv")
        with open(csv_path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["file", "space", "source", *cols,
                                                    "oracle_scaled"], extrasaction="ignore")
            writer.writeheader()
            for path, rows in results.items():
                for r in rows:
                    writer.writerow({"file": path, **r,
                                     "oracle_scaled": " ".join(r["oracle_scaled"])})
        # a report: stdout is the table (or the JSON), the files written go to the log
        log.info("eval-poses wrote %s and %s", output, csv_path)
    if as_json:
        print(json.dumps(json_safe(results)))


def json_safe(value):
    """NaN and infinities (an undefined metric, e.g. S_detect's accel) as null: strict JSON."""
    import math

    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def register(app: typer.Typer) -> None:
    app.command("eval-poses", rich_help_panel="Evaluation")(eval_poses)
