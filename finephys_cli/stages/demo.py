"""`demo`: the whole pipeline offline, as the ordinary commands a user would type.

synth (videos + truth) -> detect -> lift -> physnet on the detected 2D -> eval-poses against the
truth -> render-heatmaps -> generate from those heatmaps -> score -> viz, each run as
`python -m finephys_cli ...` (printed first, so the user learns the pipeline), with
the models shipped in the package. Outputs are cached: a rerun skips finished steps.
"""

from __future__ import annotations

import csv
import json
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.markup import escape

from ..console import console
from ..errors import FinephysError
from ..data.classes import select_classes


@dataclass
class DemoStep:
    name: str
    args: list[str]
    progress: bool = True          # the command takes --progress
    seconds: float = 0.0
    outputs: list[str] = field(default_factory=list)
    # A report's files (stdout carries its report, not paths): listed when they exist.
    report_files: list[str] = field(default_factory=list)


def _is_path(line: str) -> bool:
    try:
        return bool(line) and Path(line).exists()
    except (OSError, ValueError):        # a report line too long, or odd, for a path
        return False


def _run(step: DemoStep, progress: str) -> DemoStep:
    console.print(f"[bold cyan]$ finephys {escape(shlex.join(step.args))}[/bold cyan]",
                  soft_wrap=True)
    t = time.monotonic()
    extra = ["--progress", progress] if step.progress else []
    res = subprocess.run([sys.executable, "-m", "finephys_cli", *step.args, *extra],
                         stdout=subprocess.PIPE, text=True)
    step.seconds = time.monotonic() - t
    # Stages print the paths they wrote; a report step (eval-poses) prints its report.
    step.outputs = [line.strip() for line in res.stdout.splitlines() if _is_path(line.strip())]
    step.outputs += [f for f in step.report_files if Path(f).exists()]
    if res.returncode != 0:
        raise FinephysError(f"demo step {step.name!r} failed (exit {res.returncode}); rerun "
                            f"it alone to see why: finephys {shlex.join(step.args)}")
    return step


def run_demo(output: Path, *, classes: str = "6,21,33", device: str = "auto",
             steps: int = 25, progress: str = "auto") -> dict:
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)

    chosen = select_classes(classes)
    prompts = out / "prompts.csv"
    with open(prompts, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["prompt", "class"])
        for c in chosen:
            w.writerow([c.label, c.gym99_class])
    dev = ["--device", device]
    plan = [
        DemoStep("synth", ["synth", "--classes", classes, "--per-class", "1", "--seed", "7",
                           "--videos", str(out / "videos"), "-o", str(out / "synth.h5")]),
        DemoStep("detect", ["detect", str(out / "videos"), str(out / "detect.h5"), *dev]),
        # The chain a user runs on real video: the synth truth is used only to evaluate.
        DemoStep("lift", ["lift", str(out / "detect.h5"), str(out / "pose3d.h5"), *dev]),
        DemoStep("physnet", ["physnet", str(out / "pose3d.h5"), str(out / "phys.h5"), *dev]),
        DemoStep("eval-poses", ["eval-poses", str(out / "phys.h5"), "--truth",
                                str(out / "synth.h5"), "-o", str(out / "table2.json")],
                 progress=False,
                 report_files=[str(out / "table2.json"), str(out / "table2.csv")]),
        DemoStep("render-heatmaps", ["render-heatmaps", str(out / "phys.h5"),
                                     str(out / "heatmaps.h5"), "--size", "128", *dev]),
        DemoStep("generate", ["generate", "--prompts", str(prompts), "--poses",
                              str(out / "heatmaps.h5"), "--steps", str(steps), "-o",
                              str(out / "generated"), *dev]),
        DemoStep("score", ["score", str(out / "generated"), "--metric", "all", "--set",
                           "pose_locator=parts", "-o", str(out / "scores.json"), *dev]),
        DemoStep("viz skeletons", ["viz", str(out / "phys.h5"), "--pose-sources",
                                   "detect,fused", "-o",
                                   str(out / "figures" / "skeletons.png")], progress=False),
        DemoStep("viz heatmaps", ["viz", str(out / "heatmaps.h5"), "--mode", "heatmap", "-o",
                                  str(out / "figures" / "heatmaps.png")], progress=False),
    ]
    started = time.monotonic()
    done = [_run(step, progress) for step in plan]
    summary = {"output": str(out), "seconds": round(time.monotonic() - started, 1),
               "steps": [{"name": s.name, "command": "finephys " + shlex.join(s.args),
                          "seconds": round(s.seconds, 1), "outputs": s.outputs} for s in done]}
    table2 = json.loads((out / "table2.json").read_text()) if (out / "table2.json").is_file() \
        else None
    scores = json.loads((out / "scores.json").read_text())
    summary["table2"] = table2
    summary["scores"] = {"metrics": scores["metrics"], "skipped": scores["skipped"]}
    (out / "demo_summary.json").write_text(json.dumps(summary, indent=1, default=str))
    return summary


def print_summary(summary: dict) -> None:
    from rich.table import Table

    steps = Table(title=f"finephys demo: {summary['seconds']:.0f} s, outputs in "
                        f"{summary['output']}")
    for col in ("step", "seconds", "wrote"):
        steps.add_column(col, overflow="fold")
    for s in summary["steps"]:
        steps.add_row(s["name"], f"{s['seconds']:.1f}", "\n".join(s["outputs"]))
    console.print(steps)
    t2 = summary.get("table2")
    if t2:
        table = Table(title="Table 2 analogue (synthetic ground truth; see eval-poses --help "
                            "for the units)")
        rows = [r for file_rows in t2["files"].values() for r in file_rows]
        if rows:
            cols = list(dict.fromkeys(k for r in rows for k in r if k not in ("source", "space")))
            for c in ("space", "source", *cols):
                table.add_column(c)
            for r in rows:
                table.add_row(str(r.get("space")), str(r.get("source")),
                              *[f"{r[c]:.1f}" if isinstance(r.get(c), float) else "-"
                                for c in cols])
            console.print(table)
    sc = Table(title="score (generated videos)")
    sc.add_column("metric")
    sc.add_column("value")
    for metric, body in summary["scores"]["metrics"].items():
        for key, val in body.items():
            if isinstance(val, dict) and "mean" in val and val["mean"] is not None:
                sc.add_row(f"{metric} {key}", f"{val['mean']:.3f} (n={val['n']})")
    for metric, why in summary["scores"]["skipped"].items():
        sc.add_row(metric, f"skipped: {escape(str(why))}")     # text, not markup
    console.print(sc)
    out = escape(str(summary["output"]))
    console.print(f"Look at {out}/generated/*.png (frames), {out}/figures/ (skeletons, "
                  f"heatmaps), and {out}/demo_summary.json.")
