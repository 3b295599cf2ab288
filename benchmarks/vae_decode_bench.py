"""The VAE decode lever of [16]: one video's 16 latents (48², i.e. 384² frames) through the
full-size SD1.5 VAE decoder (random weights, fp16, channels_last), `chunk` frames per call as
in FinePhysPipeline.decode, eager and torch.compile'd (default mode, static shapes, as
FinePhysPipeline.compile does). Milliseconds per video = median of --repeats after a warm-up.

    python benchmarks/vae_decode_bench.py --out vae_decode.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate_bench import full_size_vae  # noqa: E402


def decode_ms(decoder_call, z: torch.Tensor, chunk: int, repeats: int) -> tuple[float, float]:
    def once():
        torch.cuda.synchronize()
        t = time.perf_counter()
        with torch.inference_mode():
            for s in range(0, len(z), chunk):
                decoder_call(z[s:s + chunk])
        torch.cuda.synchronize()
        return time.perf_counter() - t

    first = once()
    return float(np.median([once() for _ in range(repeats)])) * 1e3, first


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--eager-chunks", default="1,2,4,8,16")
    ap.add_argument("--compiled-chunks", default="8,16")
    args = ap.parse_args()
    vae = full_size_vae().to("cuda", torch.float16).to(memory_format=torch.channels_last).eval()
    g = torch.Generator("cuda").manual_seed(0)
    z = torch.randn(args.frames, 4, args.size // 8, args.size // 8, generator=g, device="cuda",
                    dtype=torch.float16) / vae.config.scaling_factor
    results = {}
    for kind, chunks in (("eager", args.eager_chunks), ("compiled", args.compiled_chunks)):
        for chunk in (int(c) for c in chunks.split(",") if c):
            call = (lambda x: vae.decode(x).sample)
            if kind == "compiled":
                torch._dynamo.reset()
                vae.decoder = torch.compile(vae.decoder._orig_mod if hasattr(
                    vae.decoder, "_orig_mod") else vae.decoder, dynamic=False)
            torch.cuda.reset_peak_memory_stats()
            ms, first = decode_ms(call, z, chunk, args.repeats)
            results[f"{kind}-chunk{chunk}"] = {"ms_per_video": ms, "first_call_s": first,
                                                "peak_gib": torch.cuda.max_memory_allocated()
                                                / 2 ** 30}
            print(kind, chunk, json.dumps(results[f"{kind}-chunk{chunk}"]), file=sys.stderr,
                  flush=True)
            args.out.write_text(json.dumps({"device": torch.cuda.get_device_name(0),
                                            "torch": torch.__version__,
                                            "settings": vars(args) | {"out": str(args.out)},
                                            "configs": results}, indent=1))


if __name__ == "__main__":
    main()
