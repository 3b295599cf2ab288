"""Generator components: SD1.5 parts + an AnimateDiff MotionAdapter, combined
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


def linear_schedulers():
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


def load_components(sd15: Path, motion_adapter: Path | None = None, *, dtype=None,
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


def load_motion_adapter(path: Path, dtype=None, allow_download: bool = False):
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


def write_word_tokenizer(folder: Path, texts: list[str]) -> Path:
    """A CLIPTokenizer whose BPE vocabulary is trained (huggingface `tokenizers`) on `texts`
    until every word of them is one token; characters remain for anything else."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import CLIPTokenizer

    bpe = Tokenizer(models.BPE(end_of_word_suffix="</w>"))
    bpe.normalizer = normalizers.Lowercase()
    bpe.pre_tokenizer = pre_tokenizers.Whitespace()
    alphabet = list("abcdefghijklmnopqrstuvwxyz0123456789.,-'!?")
    trainer = trainers.BpeTrainer(vocab_size=100_000, min_frequency=1, show_progress=False,
                                  special_tokens=["<|startoftext|>", "<|endoftext|>"],
                                  initial_alphabet=alphabet, end_of_word_suffix="</w>")
    bpe.train_from_iterator(texts, trainer)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    bpe.model.save(str(folder))
    vocab = json.loads((folder / "vocab.json").read_text())
    for ch in alphabet:   # CLIP's tokenizer also needs each character as a word end
        vocab.setdefault(ch + "</w>", len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab))
    CLIPTokenizer.from_pretrained(folder, model_max_length=77).save_pretrained(folder)
    return folder


@dataclass
class SmallGeneratorConfig:
    """The offline generator's architecture: the SD1.5 classes, scaled down."""
    unet_channels: tuple[int, ...] = (64, 128, 192)
    text_hidden: int = 128
    text_layers: int = 2
    motion_heads: int = 4
    max_frames: int = 32


def build_small(folder: Path, vae_dir, texts: list[str],
                cfg: SmallGeneratorConfig | None = None, seed: int = 0) -> Path:
    """An untrained small generator in SD1.5 folder layout (sd15/unet is a UNetMotionModel),
    around a trained AutoencoderKL; the heatmap encoder is made by init-generator."""
    import shutil

    import torch
    from diffusers import AutoencoderKL, MotionAdapter, UNet2DConditionModel, UNetMotionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    cfg = cfg or SmallGeneratorConfig()
    torch.manual_seed(seed)
    sd = Path(folder) / "sd15"
    vae = AutoencoderKL.from_pretrained(vae_dir, local_files_only=True) \
        if not isinstance(vae_dir, AutoencoderKL) else vae_dir
    n = len(cfg.unet_channels)
    unet2d = UNet2DConditionModel(
        block_out_channels=cfg.unet_channels, layers_per_block=1,
        sample_size=16, in_channels=vae.config.latent_channels,
        out_channels=vae.config.latent_channels,
        down_block_types=("CrossAttnDownBlock2D",) * (n - 1) + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * (n - 1),
        cross_attention_dim=cfg.text_hidden, attention_head_dim=8,
        norm_num_groups=min(32, cfg.unet_channels[0]))
    adapter = MotionAdapter(block_out_channels=cfg.unet_channels, motion_layers_per_block=1,
                            motion_norm_num_groups=min(32, cfg.unet_channels[0]),
                            motion_num_attention_heads=cfg.motion_heads,
                            motion_max_seq_length=cfg.max_frames, use_motion_mid_block=False)
    UNetMotionModel.from_unet2d(unet2d, adapter).save_pretrained(sd / "unet")
    vae.save_pretrained(sd / "vae")
    tok = write_word_tokenizer(sd / "tokenizer", texts)
    from transformers import CLIPTokenizer

    vocab = len(CLIPTokenizer.from_pretrained(tok))
    CLIPTextModel(CLIPTextConfig(bos_token_id=0, eos_token_id=1, pad_token_id=1,
                                 hidden_size=cfg.text_hidden, intermediate_size=4 * cfg.text_hidden,
                                 num_attention_heads=4, num_hidden_layers=cfg.text_layers,
                                 vocab_size=vocab + 1, projection_dim=cfg.text_hidden,
                                 max_position_embeddings=77)).save_pretrained(sd / "text_encoder")
    (sd / "model_index.json").write_text(json.dumps({
        "_class_name": "AnimateDiffPipeline", "unet": ["diffusers", "UNetMotionModel"],
        "vae": ["diffusers", "AutoencoderKL"], "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"]}, indent=1))
    if (sd / "scheduler").exists():
        shutil.rmtree(sd / "scheduler")
    return sd


def small_vae(latent_channels: int = 8, channels: tuple[int, ...] = (32, 64, 128, 128)):
    """The offline generator's AutoencoderKL: SD's 8x geometry (4 blocks), with 8 latent
    channels instead of 4 so thin limbs survive a 16x16 latent of a 128 px frame."""
    from diffusers import AutoencoderKL

    n = len(channels)
    return AutoencoderKL(block_out_channels=channels, down_block_types=("DownEncoderBlock2D",) * n,
                         up_block_types=("UpDecoderBlock2D",) * n, layers_per_block=1,
                         latent_channels=latent_channels, norm_num_groups=min(32, channels[0]),
                         scaling_factor=1.0)


def calibrate_latent_scale(vae, frames, device: str = "cpu", n: int = 256) -> float:
    """Set `scaling_factor` to 1/std of the latents of up to `n` frames (uint8 (N,H,W,3)), as
    SD1.5's 0.18215 was chosen, so the diffusion sees unit-variance latents."""
    import numpy as np
    import torch

    idx = np.linspace(0, len(frames) - 1, min(n, len(frames))).round().astype(int)
    x = torch.as_tensor(frames[idx], device=device).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.no_grad():
        z = torch.cat([vae.to(device).encode(x[s:s + 32]).latent_dist.mean
                       for s in range(0, len(x), 32)])
    scale = float(1.0 / z.std())
    vae.register_to_config(scaling_factor=scale)
    return scale
