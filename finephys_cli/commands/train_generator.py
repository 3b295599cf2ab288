"""`prepare-clips`, `train-autoencoder`, `init-generator`, `train-heatmap-encoder`, `train-lora`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from ._common import (ConfigOpt, DeviceOpt, GlobalBatchOpt, OverwriteOpt, PoseSourceOpt,
                      PositionalOutputOpt, ProgressOpt, ResumeOpt, RunNameOpt, RunsOpt, SetOpt,
                      StepsOpt, check_training_sizes, cli_command, emit_paths, model_option,
                      resolve_device, split_output)

PANEL = "Generation"
ClipsOpt = Annotated[list[Path], typer.Option(help="finephys.clips files (repeatable).")]
SD15Opt = Annotated[Path | None, model_option("Stable Diffusion 1.5 (diffusers layout)")]
MotionAdapterOpt = Annotated[Path | None, model_option("AnimateDiff MotionAdapter")]


@cli_command
def prepare_clips(
    paths: Annotated[list[Path], typer.Argument(help="A synth/pose2d/phys file, or a COCO keypoint JSON (HumanArt), then OUT.h5 (or give -o OUT).", show_default=False)],
    output: PositionalOutputOpt = None,
    videos: Annotated[Path | None, typer.Option(help="Folder of <video_id>.mp4 or <video_id>/ frame images (default: each video's source_path).")] = None,
    images: Annotated[Path | None, typer.Option(help="Image root for a COCO JSON.")] = None,
    size: Annotated[int, typer.Option(help="Square crop size.")] = 384,
    frames: Annotated[int, typer.Option(help="Frames per sample, spanning the clip.")] = 16,
    pose_source: PoseSourceOpt = "auto",
    render: Annotated[Literal["none", "shaded", "parts"], typer.Option(help="Synth files: render the mannequin (shaded or parts) instead of reading videos.")] = "none",
    config: ConfigOpt = None,
    set_: SetOpt = None,
    overwrite: OverwriteOpt = False,
    progress: ProgressOpt = "auto",
) -> None:
    """Cut generator training samples: cropped frames + 2D skeleton + extended prompt."""
    from ..configs import load_config
    from ..errors import InputError, UsageError
    from ..stages.clips import ClipsConfig, run_prepare_clips

    (path,), output = split_output(paths, output, max_inputs=1)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    cfg = load_config(ClipsConfig, config, set_, size=size, frames=frames,
                      pose_source=pose_source, render=render)
    if cfg.render not in ("none", "shaded", "parts"):
        raise UsageError(f"--render must be none, shaded or parts, got {cfg.render!r}")
    emit_paths([run_prepare_clips(cfg, path, output, videos=videos, images=images,
                                  overwrite=overwrite, progress=progress)])


@cli_command
def train_autoencoder(
    clips: ClipsOpt,
    name: RunNameOpt = "vae",
    runs: RunsOpt = Path("runs"),
    steps: StepsOpt = None,
    batch_size: GlobalBatchOpt = None,
    resume: ResumeOpt = None,
    device: DeviceOpt = "auto",
    config: ConfigOpt = None,
    set_: SetOpt = None,
    progress: ProgressOpt = "auto",
) -> None:
    """Train the small AutoencoderKL of the offline generator on clip frames."""
    from ..configs import load_config
    from ..stages.train_autoencoder import TrainAutoencoderConfig, run_train_autoencoder

    cfg = check_training_sizes(load_config(TrainAutoencoderConfig, config, set_,
                                           clips=[str(c) for c in clips], name=name,
                                           steps=steps, batch_size=batch_size))
    emit_paths([run_train_autoencoder(cfg, runs, device=resolve_device(device), resume=resume,
                                      progress=progress)])


@cli_command
def init_generator(
    vae: Annotated[Path, typer.Option(help="A trained AutoencoderKL folder (train-autoencoder's model-best/vae).")],
    clips: ClipsOpt,
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder.")],
    seed: Annotated[int, typer.Option(help="Initialisation seed.")] = 0,
    overwrite: OverwriteOpt = False,
) -> None:
    """Write an untrained small generator (SD1.5 layout) around a trained VAE, with a tokenizer
    covering the clips' prompts and a zero-initialised heatmap encoder; train it with
    `train-lora --mode unet`."""
    import shutil

    from ..console import log
    from ..errors import InputError, OutputExistsError
    from ..generation.components import build_small
    from ..generation.encoder import HeatmapEncoder, HeatmapEncoderConfig
    from ..io.clips import load_clips

    if output.exists():
        if not overwrite:
            raise OutputExistsError(f"{output} exists; pass --overwrite")
        shutil.rmtree(output)
    if not (vae / "config.json").is_file():
        raise InputError(f"--vae {vae}: no config.json (an AutoencoderKL folder is expected)")
    data = load_clips(list(clips))
    from ..data.classes import load_classes
    from ..data.prompts import extend_with

    texts = data.prompts + [extend_with(c.label, c) for c in load_classes()]
    tmp = output.with_name(output.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    from diffusers import AutoencoderKL

    from ..generation.components import calibrate_latent_scale

    vae_model = AutoencoderKL.from_pretrained(vae, local_files_only=True)
    scale = calibrate_latent_scale(vae_model, data.frames.reshape(-1, *data.frames.shape[2:]))
    log.info("init-generator: latent scaling_factor = %.4f (1/std over the clips)", scale)
    sd = build_small(tmp, vae_model, texts, seed=seed)
    import json

    from diffusers import UNetMotionModel

    unet_cfg = UNetMotionModel.load_config(sd / "unet")
    vae_cfg = json.loads((vae / "config.json").read_text())
    HeatmapEncoder(HeatmapEncoderConfig(
        channels=tuple(unet_cfg["block_out_channels"]),
        downscale_factor=2 ** (len(vae_cfg["block_out_channels"]) - 1))).save_pretrained(
        tmp / "heatmap_encoder")
    (tmp / "finephys_generator.json").write_text(json.dumps(
        {"size": int(data.frames.shape[2]), "frames": int(data.frames.shape[1]),
         "trained": False}))
    tmp.rename(output)
    emit_paths([output])


def _train(command: str, clips, name, runs, steps, batch_size, resume, device, config, set_,
           progress, models: dict, mode: str, physnet: Path | None = None,
           compile_: bool = False) -> None:
    from ..configs import load_config
    from ..generation.bundle import resolve_generator
    from ..stages.train_generator import (GeneratorParts, TrainGeneratorConfig,
                                          run_train_generator)

    cfg = check_training_sizes(load_config(TrainGeneratorConfig, config, set_,
                                           clips=[str(c) for c in clips], name=name,
                                           steps=steps, batch_size=batch_size, mode=mode,
                                           compile=compile_ or None))
    spec = resolve_generator(**{**models, "lora": None})

    def parts() -> GeneratorParts:
        from ..generation.components import load_components
        from ..generation.encoder import HeatmapEncoder, HeatmapEncoderConfig

        comps = load_components(spec.sd15, spec.motion_adapter)
        if spec.heatmap_encoder is not None:
            encoder = HeatmapEncoder.from_pretrained(spec.heatmap_encoder).train()
        else:
            encoder = HeatmapEncoder(HeatmapEncoderConfig(
                channels=tuple(comps.unet.config.block_out_channels),
                downscale_factor=2 ** (len(comps.vae.config.block_out_channels) - 1)))
        return GeneratorParts(comps, encoder, sd15_dir=spec.sd15)

    emit_paths([run_train_generator(cfg, parts, runs, command=command,
                                    device=resolve_device(device), resume=resume,
                                    progress=progress, physnet_dir=physnet)])


@cli_command
def train_heatmap_encoder(
    clips: ClipsOpt,
    name: RunNameOpt = "encoder",
    runs: RunsOpt = Path("runs"),
    steps: StepsOpt = None,
    batch_size: GlobalBatchOpt = None,
    sd15: SD15Opt = None,
    motion_adapter: MotionAdapterOpt = None,
    heatmap_encoder: Annotated[Path | None, typer.Option(help="Start from this encoder (default: a new zero-initialised one).", show_default=False)] = None,
    resume: ResumeOpt = None,
    device: DeviceOpt = "auto",
    config: ConfigOpt = None,
    set_: SetOpt = None,
    progress: ProgressOpt = "auto",
) -> None:
    """Step 1: train the skeletal heatmap encoder with SD frozen (T2I-Adapter recipe)."""
    _train("train-heatmap-encoder", clips, name, runs, steps, batch_size, resume, device, config,
           set_, progress, {"sd15": sd15, "motion_adapter": motion_adapter,
                            "heatmap_encoder": heatmap_encoder}, "encoder")


@cli_command
def train_lora(
    clips: ClipsOpt,
    name: RunNameOpt = "lora",
    runs: RunsOpt = Path("runs"),
    steps: StepsOpt = None,
    batch_size: GlobalBatchOpt = None,
    mode: Annotated[Literal["lora", "unet"], typer.Option(help="lora (paper step 4) or unet (train every UNet weight: a generator from scratch).")] = "lora",
    sd15: SD15Opt = None,
    motion_adapter: MotionAdapterOpt = None,
    heatmap_encoder: Annotated[Path | None, typer.Option(help="The step-1 encoder (default: a new zero-initialised one).", show_default=False)] = None,
    physnet: Annotated[Path | None, typer.Option(help="Train this PhysNet (+ projection) jointly; needs clips from a phys file.", show_default=False)] = None,
    compile_: Annotated[bool, typer.Option(
        "--compile", envvar="FINEPHYS_COMPILE", help="torch.compile the UNet's training "
        "forward (CUDA): about 5 min on the first step with a cold cache (Inductor keeps its "
        "kernels), then 1.09x faster steps on an H200; the same losses within float "
        "tolerance.", show_default=False)] = False,
    resume: ResumeOpt = None,
    device: DeviceOpt = "auto",
    config: ConfigOpt = None,
    set_: SetOpt = None,
    progress: ProgressOpt = "auto",
) -> None:
    """Step 4: joint fine-tuning of the spatial/temporal LoRA, the encoder and optionally
    PhysNet, with L_spat + L_temp + L_ad-temp (eq. 21-24)."""
    _train("train-lora", clips, name, runs, steps, batch_size, resume, device, config, set_,
           progress, {"sd15": sd15, "motion_adapter": motion_adapter,
                      "heatmap_encoder": heatmap_encoder}, mode, physnet, compile_)


def register(app: typer.Typer) -> None:
    app.command("prepare-clips", rich_help_panel=PANEL)(prepare_clips)
    app.command("train-autoencoder", rich_help_panel=PANEL)(train_autoencoder)
    app.command("init-generator", rich_help_panel=PANEL)(init_generator)
    app.command("train-heatmap-encoder", rich_help_panel=PANEL)(train_heatmap_encoder)
    app.command("train-lora", rich_help_panel=PANEL)(train_lora)
