"""What the colour locator finds on true mannequin renders, and on the same frames after an
autoencoder's encode -> decode: the pose-fidelity ceiling each VAE leaves the generator.

    python benchmarks/offline_generator/vae_ceiling.py --clips held/*.h5 \
        --vae finephys_cli/assets/generator/sd15/vae --vae runs/.../model-best/vae --out c.json

The clips are `prepare-clips --render parts` files of motions no VAE trained on.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

METRICS = ("pck", "px_error", "px_error_rel", "detected")


def reconstruct(vae, frames: np.ndarray, device: str) -> np.ndarray:
    """(F,H,W,3) uint8 -> the VAE's reconstruction (posterior mean), uint8."""
    import torch

    x = torch.as_tensor(frames, device=device).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.no_grad():
        y = vae.decode(vae.encode(x).latent_dist.mode()).sample
    return ((y / 2 + 0.5).clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=Path, nargs="+", required=True)
    ap.add_argument("--vae", action="append", default=[], help="an AutoencoderKL folder")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    import torch

    from finephys_cli.io.clips import load_clips
    from finephys_cli.metrics.pose_fidelity import part_fidelity
    from finephys_cli.stages.train_autoencoder import load_vae

    data = load_clips(args.clips)
    rows: dict[str, list[dict]] = {"true renders": []}
    vaes = {v: load_vae(v).to(args.device).float().eval() for v in args.vae}
    for v in vaes:
        rows[v] = []
    psnr: dict[str, list[float]] = {v: [] for v in vaes}
    for frames, kp in zip(data.frames, data.keypoints):
        rows["true renders"].append(part_fidelity(frames, kp))
        for name, vae in vaes.items():
            rec = reconstruct(vae, frames, args.device)
            rows[name].append(part_fidelity(rec, kp))
            mse = ((rec.astype(np.float64) - frames) ** 2).mean()
            psnr[name].append(10 * np.log10(255 ** 2 / max(mse, 1e-9)))
    table = {name: {m: float(np.nanmean([r[m] for r in rs])) for m in METRICS}
             for name, rs in rows.items()}
    for name in vaes:
        table[name]["psnr"] = float(np.mean(psnr[name]))
    res = {"what": "the colour locator on true renders and on each VAE's reconstruction of "
                   "them, against their exact 2D", "clips": len(data.frames),
           "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
           "table": table}
    args.out.write_text(json.dumps(res, indent=1))
    print(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
