"""Generation cost of the pose guidance, side by side in one process (issue: generate benchmark).

Full-size SD1.5 + AnimateDiff motion-adapter v2 architectures with random weights (built from
their published configs, nothing downloaded), 16 frames at 384², 25 DDIM steps, CFG 7.5, fp16:
a plain diffusers AnimateDiffPipeline against FinePhysPipeline (heatmap render + encoder + hooks)
on the same UNet. Reports seconds per video, peak GiB and the UNet FLOPs per video.

    python benchmarks/generate_bench.py --out benchmarks/results/generate_h100.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def build(folder: Path, dtype):  # noqa: ANN001, ANN201
    from diffusers import AutoencoderKL, MotionAdapter, UNet2DConditionModel, UNetMotionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from finephys_cli.data.classes import load_classes
    from finephys_cli.data.prompts import extend_with
    from finephys_cli.generation.components import Components, linear_schedulers, \
        write_word_tokenizer
    from finephys_cli.generation.encoder import HeatmapEncoder, HeatmapEncoderConfig

    torch.manual_seed(0)
    unet2d = UNet2DConditionModel(   # the SD1.5 UNet config
        sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
        block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768, attention_head_dim=8,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3)
    adapter = MotionAdapter()          # diffusers' defaults are the v2 layout (453 M)
    unet = UNetMotionModel.from_unet2d(unet2d, adapter)
    vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512),
                        down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2,
                        latent_channels=4, sample_size=512, scaling_factor=0.18215)
    texts = [extend_with(c.label, c) for c in load_classes()]
    tok = CLIPTokenizer.from_pretrained(write_word_tokenizer(folder / "tok", texts))
    te = CLIPTextModel(CLIPTextConfig(hidden_size=768, intermediate_size=3072,
                                      num_attention_heads=12, num_hidden_layers=12,
                                      vocab_size=49408, bos_token_id=0, eos_token_id=1,
                                      pad_token_id=1, max_position_embeddings=77))
    noise, sample = linear_schedulers()
    comps = Components(tok, te, vae, unet, noise, sample)
    enc = HeatmapEncoder(HeatmapEncoderConfig(zero_init=False))
    return comps, enc


def unet_flops(unet, frames: int, latent: int, dtype, device) -> float:  # noqa: ANN001
    """FLOPs of one CFG UNet call (batch 2·frames) by torch's FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.randn(2, 4, frames, latent, latent, device=device, dtype=dtype)
    ehs = torch.randn(2 * frames, 77, 768, device=device, dtype=dtype)
    with torch.inference_mode(), FlopCounterMode(display=False) as fc:
        unet(x, 500, encoder_hidden_states=ehs)
    return float(fc.get_total_flops())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from diffusers import AnimateDiffPipeline

    from finephys_cli.generation.pipeline import FinePhysPipeline, SampleSettings

    device, dtype = "cuda", torch.float16
    comps, enc = build(Path("/tmp/genbench"), dtype)
    ours = FinePhysPipeline(comps, enc, device=device, dtype=dtype)
    stock = AnimateDiffPipeline(vae=comps.vae, text_encoder=comps.text_encoder,
                                tokenizer=comps.tokenizer, unet=comps.unet, motion_adapter=None,
                                scheduler=comps.sample_scheduler)
    stock.set_progress_bar_config(disable=True)
    settings = SampleSettings(steps=args.steps, guidance_scale=7.5, frames=args.frames,
                              size=args.size)
    rng = np.random.default_rng(0)
    pose = (rng.uniform(60, args.size - 60, (args.frames, 17, 2)), np.ones((args.frames, 17)))
    prompt = "Switch leap with 0.5 turn"

    def run_stock() -> None:
        with torch.inference_mode():
            lat = stock(prompt, num_frames=args.frames, height=args.size, width=args.size,
                        num_inference_steps=args.steps, guidance_scale=7.5,
                        generator=torch.Generator("cpu").manual_seed(0),
                        output_type="latent").frames
        ours.decode(lat, settings.decode_chunk)      # the same decode for both

    def run_ours() -> None:
        ours([prompt], [0], settings, poses=[pose])

    def timed(fn) -> tuple[float, float]:  # noqa: ANN001
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        return time.perf_counter() - t, torch.cuda.max_memory_allocated() / 2 ** 30

    run_stock()
    run_ours()   # warm-up (cuDNN autotune, allocator)
    res: dict[str, list] = {"stock": [], "finephys": []}
    for _ in range(args.repeats):
        res["stock"].append(timed(run_stock))
        res["finephys"].append(timed(run_ours))
    flops_call = unet_flops(comps.unet, args.frames, args.size // 8, dtype, device)
    s = {k: float(np.median([t for t, _ in v])) for k, v in res.items()}
    m = {k: float(max(g for _, g in v)) for k, v in res.items()}
    enc_params = sum(p.numel() for p in enc.parameters())
    out = {
        "device": torch.cuda.get_device_name(), "torch": torch.__version__,
        "settings": {"frames": args.frames, "size": args.size, "steps": args.steps,
                     "guidance_scale": 7.5, "dtype": "fp16", "repeats": args.repeats},
        "unet_params_M": sum(p.numel() for p in comps.unet.parameters()) / 1e6,
        "encoder_params_M": enc_params / 1e6,
        "seconds_per_video": s, "peak_gib": m,
        "time_overhead": s["finephys"] / s["stock"] - 1,
        "memory_overhead": m["finephys"] / m["stock"] - 1,
        "unet_tflops_per_video": flops_call * args.steps / 1e12,
        "unet_tflops_per_second_stock": flops_call * args.steps / 1e12 / s["stock"],
        "raw": res,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
