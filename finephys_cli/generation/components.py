"""Generator components (DESIGN §5.6): SD1.5 parts + an AnimateDiff MotionAdapter, combined
with `UNetMotionModel.from_unet2d`, and the AnimateDiff linear-beta schedulers.

Everything loads from local paths (diffusers folders); a hub id only with `allow_download`.
`build_tiny` writes a tiny random model of the same classes, for tests and CPU smoke runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ModelNotFoundError

BETA_START, BETA_END, TRAIN_STEPS = 0.00085, 0.012, 1000


@dataclass
class Components:
    tokenizer: Any
    text_encoder: Any
    vae: Any
    unet: Any                 # UNetMotionModel
    noise_scheduler: Any      # DDPM, linear betas (training)
    sample_scheduler: Any     # DDIM, linear betas (sampling)


def linear_schedulers():  # noqa: ANN201
    """AnimateDiff's training schedule (linear betas 0.00085-0.012), not SD1.5's scaled_linear."""
    from diffusers import DDIMScheduler, DDPMScheduler

    common = dict(beta_start=BETA_START, beta_end=BETA_END, beta_schedule="linear",
                  num_train_timesteps=TRAIN_STEPS, clip_sample=False)
    return (DDPMScheduler(**common),
            DDIMScheduler(**common, set_alpha_to_one=False, steps_offset=1,
                          timestep_spacing="linspace"))


def _need(path: Path, what: str) -> None:
    if not path.exists():
        raise ModelNotFoundError(f"{what}: {path} not found (a diffusers folder is expected)")


def _unet_class(sd15: Path) -> str | None:
    cfg = Path(sd15) / "unet" / "config.json"
    return json.loads(cfg.read_text()).get("_class_name") if cfg.is_file() else None


def load_components(sd15: Path, motion_adapter: Path | None = None, *, dtype=None,  # noqa: ANN001
                    allow_download: bool = False) -> Components:
    """SD1.5 (diffusers folder: unet/ vae/ text_encoder/ tokenizer/) + a MotionAdapter folder
    or original `.ckpt`. A folder whose unet/ is already a UNetMotionModel (our trained small
    generator) needs no motion adapter."""
    from diffusers import AutoencoderKL, UNet2DConditionModel, UNetMotionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    local = not allow_download
    if local:
        _need(Path(sd15), "SD1.5")
    kw = {"local_files_only": local}
    if dtype is not None:
        kw["torch_dtype"] = dtype
    if Path(sd15).is_file():
        return _single_file_components(Path(sd15), motion_adapter, kw, allow_download)
    if local and _unet_class(sd15) == "UNetMotionModel":
        unet = UNetMotionModel.from_pretrained(sd15, subfolder="unet", **kw)
    else:
        if motion_adapter is None:
            raise ModelNotFoundError(f"{sd15}: the UNet is a 2D UNet, so a motion adapter is "
                                     f"needed (--motion-adapter; see finephys models)")
        unet2d = UNet2DConditionModel.from_pretrained(sd15, subfolder="unet", **kw)
        unet = UNetMotionModel.from_unet2d(unet2d, load_motion_adapter(motion_adapter, dtype,
                                                                       allow_download))
    noise, sample = linear_schedulers()
    return Components(
        tokenizer=CLIPTokenizer.from_pretrained(sd15, subfolder="tokenizer", local_files_only=local),
        text_encoder=CLIPTextModel.from_pretrained(sd15, subfolder="text_encoder", **kw),
        vae=AutoencoderKL.from_pretrained(sd15, subfolder="vae", **kw),
        unet=unet, noise_scheduler=noise, sample_scheduler=sample)


def _single_file_components(path: Path, motion_adapter: Path | None, kw: dict,
                            allow_download: bool) -> Components:
    """An SD1.5 `.safetensors`/`.ckpt`, converted by diffusers with a local config folder."""
    import os

    from diffusers import StableDiffusionPipeline, UNetMotionModel

    cfg = os.environ.get("FINEPHYS_SD15_CONFIG") or str(path.with_name(path.name + ".config"))
    if not allow_download and not Path(cfg, "model_index.json").is_file():
        raise ModelNotFoundError(
            f"{path}: a single-file SD1.5 needs a local diffusers config folder (model_index.json "
            f"and the component configs) in {cfg}/ or FINEPHYS_SD15_CONFIG")
    if motion_adapter is None:
        raise ModelNotFoundError("a single-file SD1.5 needs --motion-adapter (see finephys models)")
    sd = StableDiffusionPipeline.from_single_file(str(path), config=cfg, **kw)
    unet = UNetMotionModel.from_unet2d(sd.unet, load_motion_adapter(
        motion_adapter, kw.get("torch_dtype"), allow_download))
    noise, sample = linear_schedulers()
    return Components(tokenizer=sd.tokenizer, text_encoder=sd.text_encoder, vae=sd.vae, unet=unet,
                      noise_scheduler=noise, sample_scheduler=sample)


def load_motion_adapter(path: Path, dtype=None, allow_download: bool = False):  # noqa: ANN001, ANN201
    """A diffusers MotionAdapter folder, or an original AnimateDiff `.ckpt`/`.safetensors`
    converted with `from_single_file`, whose config comes from a local diffusers folder next to
    it (`<file>.config/` or the folder in FINEPHYS_MOTION_ADAPTER_CONFIG), never the Hub."""
    import os

    from diffusers import MotionAdapter

    path = Path(path)
    local = not allow_download
    if local:
        _need(path, "motion adapter")
    kw: dict[str, Any] = {"local_files_only": local}
    if dtype is not None:
        kw["torch_dtype"] = dtype
    if path.is_file():
        cfg = os.environ.get("FINEPHYS_MOTION_ADAPTER_CONFIG") or \
            str(path.with_name(path.name + ".config"))
        if local and not Path(cfg, "config.json").is_file():
            raise ModelNotFoundError(
                f"{path}: a single-file motion module needs its diffusers config: put the "
                f"MotionAdapter config.json in {cfg}/ or set FINEPHYS_MOTION_ADAPTER_CONFIG")
        return MotionAdapter.from_single_file(str(path), config=cfg, **kw)
    return MotionAdapter.from_pretrained(path, **kw)


def _tiny_vocab(words: list[str]) -> dict[str, int]:
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in "abcdefghijklmnopqrstuvwxyz0123456789.":
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault(ch + "</w>", len(vocab))
    for w in words:
        vocab.setdefault(w + "</w>", len(vocab))
    return vocab


def build_tiny(folder: Path, *, seed: int = 0, channels: tuple[int, ...] = (32, 64),
               words: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """Write a tiny random SD1.5-layout folder and MotionAdapter folder; returns both paths.
    The VAE has 4 blocks so its scale factor is 8, as in SD1.5."""
    import torch
    from diffusers import AutoencoderKL, MotionAdapter, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)
    folder = Path(folder)
    sd, motion = folder / "sd15", folder / "motion_adapter"
    UNet2DConditionModel(
        block_out_channels=channels, layers_per_block=1, sample_size=8, in_channels=4,
        out_channels=4, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
        attention_head_dim=8, norm_num_groups=min(32, channels[0]),
    ).save_pretrained(sd / "unet")
    AutoencoderKL(block_out_channels=(8, 8, 8, 8), down_block_types=("DownEncoderBlock2D",) * 4,
                  up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=1,
                  latent_channels=4, norm_num_groups=2).save_pretrained(sd / "vae")
    vocab = _tiny_vocab(list(words))
    tok_dir = sd / "tokenizer"
    tok_dir.mkdir(parents=True, exist_ok=True)
    (tok_dir / "vocab.json").write_text(json.dumps(vocab))
    (tok_dir / "merges.txt").write_text("#version: 0.2\n")
    CLIPTokenizer.from_pretrained(tok_dir, model_max_length=77).save_pretrained(tok_dir)
    CLIPTextModel(CLIPTextConfig(bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=32,
                                 intermediate_size=37, num_attention_heads=4,
                                 num_hidden_layers=2, vocab_size=len(vocab) + 1,
                                 projection_dim=32)).save_pretrained(sd / "text_encoder")
    MotionAdapter(block_out_channels=channels, motion_layers_per_block=1,
                  motion_norm_num_groups=min(32, channels[0]), motion_num_attention_heads=4,
                  motion_max_seq_length=32, use_motion_mid_block=False).save_pretrained(motion)
    return sd, motion
