"""`finephys generate`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from ._common import (HUB_OR_FOLDER, ConfigOpt, DeviceOpt, OverwriteOpt, PoseSourceOpt,
                      ProgressOpt, SetOpt, cli_command, emit_paths, model_option, resolve_device)


@cli_command
def generate(
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder.")] = Path("generated"),
    prompt: Annotated[str | None, typer.Option(help="A prompt, e.g. \"switch leap with 0.5 turn\".")] = None,
    prompts: Annotated[Path | None, typer.Option(help="CSV with prompt[,class][,seed] columns.")] = None,
    poses: Annotated[Path | None, typer.Option(help="Skeletons: a heatmaps (its crop and maps are used), phys, synth or pose2d file; video i drives job i. Default: the prompt's class, synthesised and run through lift and physnet.")] = None,
    pose_source: PoseSourceOpt = "auto",
    class_id: Annotated[int | None, typer.Option("--class", help="Gym99 class id (6-40) for the synthetic skeleton.")] = None,
    num_videos: Annotated[int, typer.Option(help="Videos per prompt (seeds S, S+1, ...).", min=1)] = 1,
    seed: Annotated[int, typer.Option(help="First seed.")] = 0,
    steps: Annotated[int, typer.Option(help="DDIM steps.", min=1)] = 25,
    guidance_scale: Annotated[float, typer.Option(help="Classifier-free guidance.")] = 7.5,
    pose_scale: Annotated[float, typer.Option(help="Weight of the skeleton features (0: off).")] = 1.0,
    pose_cfg: Annotated[bool | None, typer.Option("--pose-cfg/--no-pose-cfg", help="Leave the skeleton out of the unconditional branch, so --guidance-scale amplifies the pose with the text. Default: the generator's own (on for the offline generator).", show_default=False)] = None,
    frames: Annotated[int, typer.Option(help="Frames per video.", min=1)] = 16,
    size: Annotated[int | None, typer.Option(help="Frame size (default 384, or the offline generator's own).", show_default=False, min=8)] = None,
    dtype: Annotated[Literal["auto", "fp16", "bf16", "fp32"], typer.Option(help="auto: fp16 on CUDA, fp32 on CPU.")] = "auto",
    batch_size: Annotated[int, typer.Option(help="Videos per sampling batch.", min=1)] = 1,
    free_init: Annotated[int, typer.Option(help="FreeInit iterations (0: off).", min=0)] = 0,
    step_cache: Annotated[int, typer.Option(help="Opt-in speed-up that changes the frames (DeepCache): run the whole UNet every N-th step and only its outer level in between (1: off).", min=1)] = 1,
    compile_: Annotated[bool, typer.Option(
        "--compile", envvar="FINEPHYS_COMPILE", help="torch.compile the UNet and VAE decoder "
        "(CUDA): about 2 min the first time on a machine, cached after; same frames within "
        "float tolerance.", show_default=False)] = False,
    no_extend: Annotated[bool, typer.Option("--no-extend", help="Do not extend the prompt with the class description.")] = False,
    sd15: Annotated[Path | None, model_option("Stable Diffusion 1.5 (diffusers layout)", HUB_OR_FOLDER)] = None,
    motion_adapter: Annotated[Path | None, model_option("AnimateDiff MotionAdapter", HUB_OR_FOLDER)] = None,
    heatmap_encoder: Annotated[Path | None, model_option("The skeletal heatmap encoder")] = None,
    lora: Annotated[Path | None, model_option("The spatial/temporal LoRA folder")] = None,
    allow_download: Annotated[bool, typer.Option(help="Allow hub ids for --sd15/--motion-adapter (needs network).")] = False,
    shard: Annotated[str | None, typer.Option(help="Make job slice I of N (0-based) for a Slurm array; every shard writes into the same --output folder.")] = None,
    device: DeviceOpt = "auto",
    config: ConfigOpt = None,
    set_: SetOpt = None,
    overwrite: OverwriteOpt = False,
    progress: ProgressOpt = "auto",
) -> None:
    """Generate pose-guided videos: mp4 + PNG strip + JSON sidecar per video."""
    from ..configs import load_config
    from ..errors import InputError, UsageError
    from ..io.manifest import parse_shard
    from ..stages.generate import GenerateConfig, read_prompts_csv, run_generate

    if (prompt is None) == (prompts is None):
        raise UsageError("give exactly one of --prompt TEXT or --prompts FILE.csv")
    rows = read_prompts_csv(prompts) if prompts else [{"prompt": prompt, "class": None,
                                                       "seed": None}]
    if poses is not None and not poses.exists():
        raise InputError(f"--poses {poses}: no such file")
    cfg = load_config(GenerateConfig, config, set_, steps=steps, guidance_scale=guidance_scale,
                      pose_scale=pose_scale, pose_cfg=pose_cfg, frames=frames, size=size, dtype=dtype,
                      batch_size=batch_size, free_init=free_init, step_cache=step_cache, extend_prompt=not no_extend,
                      pose_source=pose_source, compile=compile_)
    models = {"sd15": sd15, "motion_adapter": motion_adapter,
              "heatmap_encoder": heatmap_encoder, "lora": lora}
    emit_paths(run_generate(cfg, rows, output, num_videos=num_videos, seed=seed,
                            gym_class=class_id, poses=poses, models=models,
                            device=resolve_device(device), shard=parse_shard(shard),
                            overwrite=overwrite, progress=progress,
                            allow_download=allow_download))


def register(app: typer.Typer) -> None:
    app.command("generate", rich_help_panel="Generation")(generate)
