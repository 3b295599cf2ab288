"""`finephys score`, `finephys study make|collect`, `finephys export-vbench`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from ._common import (ConfigOpt, DeviceOpt, OverwriteOpt, ProgressOpt, SetOpt, cli_command,
                      emit_paths, model_option, resolve_device)

PANEL = "Evaluation"
SCORE_MODEL_DEFAULT = "models.toml or FINEPHYS_*; without one the metric is skipped under " \
    "--metric all"


def _model_opt(what: str) -> typer.models.OptionInfo:
    return model_option(what, "a local path (it must exist)", SCORE_MODEL_DEFAULT)


@cli_command
def score(
    generated: Annotated[Path, typer.Argument(help="Folder of generated videos (+ generate sidecars); default: generated/, where generate writes.")] = Path("generated"),
    output: Annotated[Path, typer.Option("-o", "--output", help="scores.json (a .csv is written beside it).")] = Path("scores.json"),
    reference: Annotated[Path | None, typer.Option(help="Folder of real videos (CLIP-SIM*, FVD).")] = None,
    metric: Annotated[list[str] | None, typer.Option(help="clip-sim, clip-sim-star, pickscore, fvd, pose-fidelity or all (repeatable). A metric named here that cannot run is an error; all skips those with the reason.", show_default="all")] = None,
    prompts: Annotated[Path | None, typer.Option(help="CSV with video, prompt[, class] columns.")] = None,
    domain_images: Annotated[Path | None, typer.Option(help="Reference images for CLIP-SIM domain (per class in <id>/ subfolders, or flat).")] = None,
    clip_model: Annotated[Path | None, _model_opt("CLIP folder (transformers CLIPModel)")] = None,
    pickscore_model: Annotated[Path | None, _model_opt("PickScore folder (a CLIPModel)")] = None,
    pickscore_processor: Annotated[Path | None, _model_opt("PickScore processor folder (CLIP-H's)")] = None,
    i3d_model: Annotated[Path | None, _model_opt("I3D TorchScript file (the StyleGAN-V i3d_torchscript.pt)")] = None,
    videomae_model: Annotated[Path | None, _model_opt("VideoMAE folder, for --fvd-backend videomae")] = None,
    fvd_backend: Annotated[Literal["i3d", "videomae"], typer.Option(help="FVD features: i3d (the standard) or videomae.")] = "i3d",
    strict: Annotated[bool, typer.Option(help="With --metric all: a metric that cannot run (no model or reference) is an error; a metric named alone always is.")] = False,
    overwrite: OverwriteOpt = False,
    device: DeviceOpt = "auto",
    config: ConfigOpt = None,
    set_: SetOpt = None,
    progress: ProgressOpt = "auto",
) -> None:
    """Score generated videos: CLIP-SIM, CLIP-SIM*, PickScore, FVD, pose fidelity."""
    from ..configs import load_config
    from ..errors import ModelNotFoundError
    from ..stages.score import ScoreConfig, run_score

    for name, path in (("--clip-model", clip_model), ("--pickscore-model", pickscore_model),
                       ("--pickscore-processor", pickscore_processor),
                       ("--i3d-model", i3d_model), ("--videomae-model", videomae_model)):
        if path is not None and not path.exists():
            raise ModelNotFoundError(f"{name} {path}: no such file or folder")
    cfg = load_config(ScoreConfig, config, set_, metrics=list(metric or ["all"]),
                      fvd_backend=fvd_backend)
    models = {"clip": clip_model, "pickscore": pickscore_model,
              "pickscore_processor": pickscore_processor, "i3d": i3d_model,
              "videomae": videomae_model}
    paths = run_score(cfg, generated, output, reference=reference, prompts=prompts,
                      domain_images=domain_images, models=models,
                      device=resolve_device(device), strict=strict, overwrite=overwrite,
                      progress=progress)
    _print_summary(paths[0])
    emit_paths(paths)


def _print_summary(path: Path) -> None:
    from rich.markup import escape
    from rich.table import Table

    from ..console import console

    res = json.loads(path.read_text())
    table = Table(title=f"finephys score ({res['protocol']['n_generated']} videos)")
    for col in ("metric", "value", "n"):
        table.add_column(col)
    for metric, body in res["metrics"].items():
        for key, val in body.items():
            if key in ("protocol", "warning"):
                continue
            if isinstance(val, dict) and "mean" in val:
                mean = "-" if val["mean"] is None else f"{val['mean']:.4g} ± {val['std']:.2g}"
                table.add_row(f"{metric} {key}", mean, str(val["n"]))
            elif isinstance(val, (int, float)) and key == metric:
                table.add_row(metric, f"{val:.4g}", f"{body.get('n_generated')}")
    for metric, why in res["skipped"].items():
        table.add_row(metric, f"skipped: {escape(str(why))}", "")   # text, not markup
    console.print(table)


study_app = typer.Typer(help="A blinded user-study page and its MOS.", no_args_is_help=True)


@study_app.command("make")
@cli_command
def study_make(
    generated: Annotated[list[Path], typer.Argument(help="One folder of videos per method (the folder name is the method).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Study folder.")] = Path("study"),
    seed: Annotated[int, typer.Option(help="Order shuffling seed.")] = 0,
    title: Annotated[str, typer.Option(help="Page title.")] = "FinePhys user study",
    overwrite: OverwriteOpt = False,
) -> None:
    """Write study/index.html (open it in a browser; no server) and study/key.json."""
    from ..stages.study import make_study

    emit_paths([make_study(list(generated), output, seed=seed, title=title,
                           overwrite=overwrite)])


@study_app.command("collect")
@cli_command
def study_collect(
    exports: Annotated[list[Path], typer.Argument(help="Ratings JSON files exported from the page.")],
    key: Annotated[Path, typer.Option(help="The study's key.json.")] = Path("study/key.json"),
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write the MOS table as JSON.")] = None,
) -> None:
    """MOS ± 95% CI per method and question."""
    from rich.table import Table

    from ..console import report
    from ..errors import InputError
    from ..stages.study import QUESTIONS, collect_study

    if not key.is_file():
        raise InputError(f"--key {key}: no such file")
    res = collect_study(list(exports), key)
    table = Table(title=f"MOS over {len(res['raters'])} rater(s)")
    table.add_column("method")
    for q, _ in QUESTIONS:
        table.add_column(q)
    for method, qs in res["mos"].items():
        table.add_row(method, *[("-" if v["mos"] is None else
                                 f"{v['mos']:.2f} ± {v['ci95']:.2f} (n={v['n']})")
                                for v in qs.values()])
    report.print(table)
    if output:
        from ..io.atomic import atomic_write_text

        atomic_write_text(output, json.dumps(res, indent=1))
        emit_paths([output])
    else:
        print(json.dumps(res))


@cli_command
def export_vbench(
    generated: Annotated[Path, typer.Argument(help="Folder of generated videos with sidecars.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="VBench input folder.")] = Path("vbench_input"),
    overwrite: OverwriteOpt = False,
) -> None:
    """Write videos as VBench custom_input expects (<prompt>-<i>.mp4 + prompt JSON)."""
    from ..stages.score import collect_items
    from ..stages.vbench import export_vbench as run

    emit_paths(run(collect_items(generated), output, overwrite=overwrite))


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel=PANEL)(score)
    app.add_typer(study_app, name="study", rich_help_panel=PANEL)
    app.command("export-vbench", rich_help_panel=PANEL)(export_vbench)
