"""Generation cost of the pose guidance and of each speed lever, side by side in one process.

Full-size SD1.5 + AnimateDiff motion-adapter v2 architectures with random weights (built from
their published configs, nothing downloaded), 16 frames at 384², 25 DDIM steps, CFG 7.5, fp16:
a plain diffusers AnimateDiffPipeline against FinePhysPipeline (heatmap render + encoder + hooks)
on the same UNet. Reports seconds per video, peak GiB and the UNet FLOPs per video.

    python benchmarks/generate_bench.py --out benchmarks/results/generate_h200.json \
        --configs stock-eager,finephys-eager,finephys-compile,stock-compile --warm-start
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def full_size_vae():
    """The SD1.5 VAE (AutoencoderKL) at full size, random weights."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(block_out_channels=(128, 256, 512, 512),
                         down_block_types=("DownEncoderBlock2D",) * 4,
                         up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2,
                         latent_channels=4, sample_size=512, scaling_factor=0.18215)


def full_size_modules(folder: Path):
    """Random-weight SD1.5 parts at full size: (UNet2D, MotionAdapter v2, VAE, tokenizer, CLIP
    text encoder); the tokenizer's vocabulary is the class prompts' words."""
    from diffusers import MotionAdapter, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from finephys_cli.data.classes import load_classes
    from finephys_cli.data.prompts import extend_with
    from finephys_cli.generation.components import write_word_tokenizer

    torch.manual_seed(0)
    unet2d = UNet2DConditionModel(   # the SD1.5 UNet config
        sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
        block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768, attention_head_dim=8,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3)
    adapter = MotionAdapter()          # diffusers' defaults are the v2 layout (453 M)
    vae = full_size_vae()
    texts = [extend_with(c.label, c) for c in load_classes()]
    tok = CLIPTokenizer.from_pretrained(write_word_tokenizer(folder / "tok", texts))
    te = CLIPTextModel(CLIPTextConfig(hidden_size=768, intermediate_size=3072,
                                      num_attention_heads=12, num_hidden_layers=12,
                                      vocab_size=49408, bos_token_id=0, eos_token_id=1,
                                      pad_token_id=1, max_position_embeddings=77))
    return unet2d, adapter, vae, tok, te


def build(folder: Path, dtype):
    from diffusers import UNetMotionModel

    from finephys_cli.generation.components import Components, linear_schedulers
    from finephys_cli.generation.encoder import HeatmapEncoder, HeatmapEncoderConfig

    unet2d, adapter, vae, tok, te = full_size_modules(folder)
    unet = UNetMotionModel.from_unet2d(unet2d, adapter)
    noise, sample = linear_schedulers()
    comps = Components(tok, te, vae, unet, noise, sample)
    enc = HeatmapEncoder(HeatmapEncoderConfig(zero_init=False))
    return comps, enc


def unet_flops(unet, frames: int, latent: int, dtype, device) -> float:
    """FLOPs of one CFG UNet call (batch 2·frames) by torch's FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.randn(2, 4, frames, latent, latent, device=device, dtype=dtype)
    ehs = torch.randn(2 * frames, 77, 768, device=device, dtype=dtype)
    with torch.inference_mode(), FlopCounterMode(display=False) as fc:
        unet(x, 500, encoder_hidden_states=ehs)
    return float(fc.get_total_flops())


CONFIGS = {
    # name: (pipeline, compile mode or None, fuse_qkv, dtype, batch[, levers])
    "stock-eager": ("stock", None, False, "fp16", 1),
    "finephys-eager": ("finephys", None, False, "fp16", 1),
    "finephys-eager-bf16": ("finephys", None, False, "bf16", 1),
    "finephys-eager-batch2": ("finephys", None, False, "fp16", 2),
    "stock-compile": ("stock", "default", False, "fp16", 1),
    "finephys-compile": ("finephys", "default", False, "fp16", 1),
    "finephys-compile-blocks": ("finephys", "default", False, "fp16", 1, {"blocks"}),
    # Autotuning one graph per block shape, where the whole UNet's did not finish in 9 min.
    "finephys-compile-blocks-autotune": ("finephys", "max-autotune-no-cudagraphs", False,
                                         "fp16", 1, {"blocks"}),
    "finephys-compile-fuseqkv": ("finephys", "default", True, "fp16", 1),
    "finephys-compile-cudagraphs": ("finephys", "reduce-overhead", False, "fp16", 1),
    "finephys-eager-mathtemporal": ("finephys", None, False, "fp16", 1, {"mathtemporal"}),
    "finephys-compile-cudagraphs-mathtemporal": ("finephys", "reduce-overhead", False, "fp16", 1,
                                                 {"mathtemporal"}),
    "finephys-compile-cudagraphs-cudnn": ("finephys", "reduce-overhead", False, "fp16", 1,
                                          {"cudnn"}),
    "finephys-compile-cudagraphs-cudnn-1x1mm": ("finephys", "reduce-overhead", False, "fp16", 1,
                                                {"cudnn", "1x1mm"}),
    "finephys-eager-flashsdp": ("finephys", None, False, "fp16", 1, {"flashsdp"}),
    "finephys-eager-effsdp": ("finephys", None, False, "fp16", 1, {"effsdp"}),
    "finephys-compile-cudagraphs-flashsdp": ("finephys", "reduce-overhead", False, "fp16", 1,
                                             {"flashsdp"}),
    "finephys-compile-cudagraphs-effsdp": ("finephys", "reduce-overhead", False, "fp16", 1,
                                           {"effsdp"}),
    # DeepCache-style step caching (opt-in, changes the frames): a full UNet step every N.
    "finephys-eager-stepcache2": ("finephys", None, False, "fp16", 1, {"stepcache2"}),
    "finephys-compile-stepcache2": ("finephys", "default", False, "fp16", 1, {"stepcache2"}),
    "finephys-compile-stepcache3": ("finephys", "default", False, "fp16", 1, {"stepcache3"}),
    # (CUDA graphs are refused with the step cache: they free the reused outputs.)
    # fuse_qkv changes the UNet in place: run these after the unfused configs.
    "finephys-compile-all": ("finephys", "reduce-overhead", True, "fp16", 1),
    "finephys-compile-all-batch2": ("finephys", "reduce-overhead", True, "fp16", 2),
}
# Levers beyond the compile mode: "blocks" compiles each ResNet/transformer block alone
# (FinePhysPipeline.compile scope), "cudnn" sets cudnn.benchmark (the fastest conv algorithm per
# shape), "1x1mm" lets Inductor run 1x1 convolutions as matmuls, "mathtemporal" runs the motion
# modules' attention as matmul + softmax (FinePhysPipeline.set_temporal_attention). "flashsdp"
# turns PyTorch's cuDNN attention backend off, so SDPA takes FlashAttention-2; "effsdp" turns
# flash off too (the memory-efficient kernel). The profile showed cuDNN's kernel the largest.
# "stepcacheN" samples with SampleSettings.step_cache = N (generation/stepcache.py).


def levers_of(name: str) -> set:
    return CONFIGS[name][5] if len(CONFIGS[name]) > 5 else set()


def scope_of(name: str) -> str:
    return "blocks" if "blocks" in levers_of(name) else "unet"


KERNEL_KINDS = (   # (kind, substrings of the CUDA kernel name), the first match wins
    ("attention", ("flash", "fmha", "attention", "efficient_attention")),
    ("convolution", ("conv", "implicit_gemm", "dgrad", "wgrad", "cudnn")),
    ("gemm", ("gemm", "cutlass", "sm90_xmma", "nvjet", "cublas")),
    ("norm", ("norm", "welford")),
    ("copy", ("memcpy", "memset", "copy", "transpose", "permute")),
    ("triton fused", ("triton",)),
)


def kernel_kind(name: str) -> str:
    low = name.lower()
    return next((kind for kind, keys in KERNEL_KINDS if any(k in low for k in keys)),
                "other elementwise")


def profile_call(run, top: int) -> dict:
    """One more call under torch.profiler: GPU busy time against wall time, the time per
    kernel kind and the `top` kernels by GPU time (where a lever could still pay)."""
    from torch.profiler import ProfilerActivity, profile

    torch.cuda.synchronize()
    t = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        run()
        torch.cuda.synchronize()
    wall = time.perf_counter() - t
    kernels = [e for e in prof.events() if e.device_type.name == "CUDA"]
    busy = sum(e.time_range.elapsed_us() for e in kernels) / 1e6   # overlaps counted twice
    kinds: dict = {}
    for e in kernels:
        kinds[kernel_kind(e.name)] = kinds.get(kernel_kind(e.name), 0.0) + e.time_range.elapsed_us() / 1e6
    by_name: dict = {}
    for e in kernels:
        n, c = by_name.get(e.name, (0.0, 0))
        by_name[e.name] = (n + e.time_range.elapsed_us() / 1e6, c + 1)
    ranked = sorted(by_name.items(), key=lambda kv: -kv[1][0])[:top]
    return {"wall_s_under_profiler": wall, "gpu_kernel_s": busy,
            "kernel_s_by_kind": dict(sorted(kinds.items(), key=lambda kv: -kv[1])),
            "top_kernels": [{"name": n[:160], "s": v[0], "calls": v[1], "kind": kernel_kind(n)}
                            for n, v in ranked]}


def run_config(name: str, comps, enc, args, settings, pose, reference=None) -> dict:
    """Seconds per video (median of args.repeats after a warm-up that includes any compile),
    peak GiB, first-call seconds, and PSNR to the eager FinePhys frames of the same seed."""
    from diffusers import AnimateDiffPipeline

    from finephys_cli.generation.pipeline import FinePhysPipeline

    kind, mode, fuse, dt, batch = CONFIGS[name][:5]
    levers = levers_of(name)
    for lever in levers:
        if lever.startswith("stepcache"):
            settings = dataclasses.replace(settings, step_cache=int(lever[len("stepcache"):]))
    import torch._inductor.config
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}[dt]
    torch._dynamo.reset()
    # Eager modules back, also after a config that failed half-way.
    comps.vae.decoder = getattr(comps.vae.decoder, "_orig_mod", comps.vae.decoder)
    for module in [*comps.unet.modules(), *comps.vae.decoder.modules()]:
        module._compiled_call_impl = None     # undo scope="blocks"
    torch.backends.cudnn.benchmark = "cudnn" in levers
    torch.backends.cuda.enable_cudnn_sdp(not levers & {"flashsdp", "effsdp"})
    torch.backends.cuda.enable_flash_sdp("effsdp" not in levers)
    torch._inductor.config.conv_1x1_as_mm = "1x1mm" in levers
    comps.unet.to(memory_format=torch.contiguous_format)
    ours = FinePhysPipeline(comps, enc, device="cuda", dtype=dtype)
    ours.set_temporal_attention("math" if "mathtemporal" in levers else "sdpa")
    prompt = "Switch leap with 0.5 turn"
    if kind == "stock":
        stock = AnimateDiffPipeline(vae=comps.vae, text_encoder=comps.text_encoder,
                                    tokenizer=comps.tokenizer, unet=comps.unet,
                                    motion_adapter=None, scheduler=comps.sample_scheduler)
        stock.set_progress_bar_config(disable=True)
        stock.to("cuda", dtype)
        if mode:
            comps.unet.to(memory_format=torch.channels_last)
            stock.unet = torch.compile(comps.unet, mode=mode, dynamic=False)
            comps.vae.decoder = torch.compile(comps.vae.decoder, mode=mode, dynamic=False)

        def run():
            with torch.inference_mode():
                lat = stock([prompt] * batch, num_frames=args.frames, height=args.size,
                            width=args.size, num_inference_steps=args.steps, guidance_scale=7.5,
                            generator=[torch.Generator("cpu").manual_seed(i)
                                       for i in range(batch)], output_type="latent").frames
            return ours.decode(lat, settings.decode_chunk)
    else:
        if mode:
            ours.compile(mode=mode, fuse_qkv=fuse, scope=scope_of(name))

        def run():
            return ours([prompt] * batch, list(range(batch)), settings, poses=[pose] * batch)

    def timed():
        torch.cuda.synchronize()
        t = time.perf_counter()
        frames = run()
        torch.cuda.synchronize()
        return time.perf_counter() - t, frames

    torch.cuda.reset_peak_memory_stats()
    first, frames = timed()
    times = [timed()[0] for _ in range(args.repeats)]
    out = {"pipeline": kind, "compile": mode, "fuse_qkv": fuse, "dtype": dt, "batch": batch,
           "levers": sorted(levers),
           "first_call_s": first, "seconds_per_video": float(np.median(times)) / batch,
           "raw_s": times, "peak_gib": torch.cuda.max_memory_allocated() / 2 ** 30}
    if args.profile:
        out["profile"] = profile_call(run, args.profile_top)
    if reference is not None:
        from finephys_cli.metrics.image import psnr_uint8

        out["psnr_vs_eager_db"] = psnr_uint8(frames[0], reference)
    if mode and ours.slot is not None:      # the next config installs its own hooks
        ours.slot.remove()
    print(name, json.dumps({k: v for k, v in out.items() if k != "raw_s"}), file=sys.stderr,
          flush=True)
    return out, frames[0]


def warm_start(args) -> dict:
    """A fresh process with the caches the first one saved: seconds from compile() to the
    first denoising step, and to the finished video."""
    from finephys_cli.generation.compile import artifact_key, enable_persistent_cache, \
        load_artifacts
    from finephys_cli.generation.pipeline import FinePhysPipeline, SampleSettings

    enable_persistent_cache()
    comps, enc = build(Path("/tmp/genbench"), torch.float16)
    pipe = FinePhysPipeline(comps, enc, device="cuda", dtype=torch.float16)
    t0 = time.perf_counter()
    loaded = load_artifacts(artifact_key("bench", args.warm_scope, args.frames, args.size))
    pipe.compile(scope=args.warm_scope)
    steps: list[float] = []
    settings = SampleSettings(steps=args.steps, guidance_scale=7.5, frames=args.frames,
                              size=args.size)
    rng = np.random.default_rng(0)
    pose = (rng.uniform(60, args.size - 60, (args.frames, 17, 2)), np.ones((args.frames, 17)))
    pipe(["Switch leap with 0.5 turn"], [0], settings, poses=[pose],
         on_step=lambda: steps.append(time.perf_counter() - t0))
    torch.cuda.synchronize()
    return {"scope": args.warm_scope, "megacache_loaded": loaded,
            "seconds_to_first_step": steps[0],
            "seconds_to_video": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--configs", default="stock-eager,finephys-eager,finephys-compile,"
                                         "stock-compile", help=", ".join(CONFIGS))
    ap.add_argument("--warm-start", action="store_true",
                    help="after the configs, time a second process that loads the caches")
    ap.add_argument("--warm-scope", default="unet", choices=("unet", "blocks"),
                    help="the compile scope the warm-start process uses (its cache must come "
                         "from finephys-compile or finephys-compile-blocks)")
    ap.add_argument("--profile", action="store_true",
                    help="after timing each config, profile one more call (torch.profiler)")
    ap.add_argument("--profile-top", type=int, default=30)
    ap.add_argument("--warm-start-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.warm_start_child:
        print(json.dumps(warm_start(args)))
        return
    from finephys_cli.generation.compile import artifact_key, enable_persistent_cache, \
        save_artifacts
    from finephys_cli.generation.pipeline import SampleSettings

    enable_persistent_cache()
    comps, enc = build(Path("/tmp/genbench"), torch.float16)
    settings = SampleSettings(steps=args.steps, guidance_scale=7.5, frames=args.frames,
                              size=args.size)
    rng = np.random.default_rng(0)
    pose = (rng.uniform(60, args.size - 60, (args.frames, 17, 2)), np.ones((args.frames, 17)))
    results, reference = {}, None
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    for name in names:
        try:
            results[name], frames = run_config(name, comps, enc, args, settings, pose,
                                               reference)
        except Exception as exc:  # one failed lever must not lose the others
            import traceback

            results[name] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            traceback.print_exc()
            continue
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"partial": True, "configs": results}, indent=1))
        if name == "finephys-eager":
            reference = frames
        if name in ("finephys-compile", "finephys-compile-blocks"):
            save_artifacts(artifact_key("bench", scope_of(name), args.frames, args.size))
    out = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
           "settings": {"frames": args.frames, "size": args.size, "steps": args.steps,
                        "guidance_scale": 7.5, "repeats": args.repeats},
           "unet_params_M": sum(p.numel() for p in comps.unet.parameters()) / 1e6,
           "configs": results}
    if "stock-eager" in results:
        out["ratio_to_stock_eager"] = {k: v["seconds_per_video"] /
                                       results["stock-eager"]["seconds_per_video"]
                                       for k, v in results.items() if "seconds_per_video" in v}
    if all("seconds_per_video" in results.get(k, {}) for k in ("stock-compile",
                                                                "finephys-compile")):
        out["finephys_compile_over_stock_compile"] = (
            results["finephys-compile"]["seconds_per_video"]
            / results["stock-compile"]["seconds_per_video"])
    if "finephys-eager" in names:
        flops = unet_flops(comps.unet, args.frames, args.size // 8, torch.float16, "cuda")
        out["unet_tflops_per_video"] = flops * args.steps / 1e12
    if args.warm_start:
        import subprocess

        child = subprocess.run([sys.executable, __file__, "--out", str(args.out),
                                "--frames", str(args.frames), "--size", str(args.size),
                                "--steps", str(args.steps), "--warm-scope", args.warm_scope,
                                "--warm-start-child"],
                               capture_output=True, text=True)
        out["warm_start"] = json.loads(child.stdout.strip().splitlines()[-1]) \
            if child.returncode == 0 else {"error": child.stderr[-2000:]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
