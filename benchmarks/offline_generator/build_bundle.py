"""Assemble the shipped offline generator from the base (`train-lora --mode unet`) and LoRA
(`train-lora --mode lora`) runs: the SD1.5-layout folder, the heatmap encoder and the LoRA,
with UNet, VAE, text encoder and encoder weights stored in fp16 (loaders cast them back)."""

import argparse
import json
import shutil
from pathlib import Path


def _half(path: Path) -> None:
    from safetensors.torch import load_file, save_file

    for f in path.rglob("*.safetensors"):
        state = load_file(str(f))
        save_file({k: (v.half() if v.is_floating_point() else v) for k, v in state.items()},
                  str(f), metadata={"format": "pt"})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", type=Path, required=True, help="base run's model-best/")
    ap.add_argument("--lora", type=Path, help="LoRA run's model-best/ (optional)")
    ap.add_argument("-o", "--output", type=Path, required=True)
    ap.add_argument("--vae", type=Path, help="an AutoencoderKL folder to use instead of the "
                    "base run's (a decoder fine-tuned on the same latents)")
    ap.add_argument("--pose-cfg", action=argparse.BooleanOptionalAction, default=True,
                    help="the bundle's sampling default (finephys_generator.json pose_cfg)")
    ap.add_argument("--prior-steps", type=int, default=0,
                    help="UNet steps of the generator the base run continued")
    ap.add_argument("--info", type=Path, help="JSON with training facts for the card")
    args = ap.parse_args()
    out = args.output
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(args.base / "sd15", out / "sd15")
    if args.vae is not None:
        shutil.rmtree(out / "sd15" / "vae")
        shutil.copytree(args.vae, out / "sd15" / "vae")
    enc = (args.lora or args.base) / "heatmap_encoder"
    shutil.copytree(enc, out / "heatmap_encoder")
    if args.lora is not None:
        shutil.copytree(args.lora / "lora", out / "lora")
    for sub in ("sd15/unet", "sd15/vae", "sd15/text_encoder", "heatmap_encoder"):
        _half(out / sub)
    meta = json.loads((args.base / "finephys_generator.json").read_text())
    meta["steps"] = int(meta.get("steps", 0)) + args.prior_steps
    meta["pose_cfg"] = args.pose_cfg
    if args.info and args.info.is_file():
        meta["training"] = json.loads(args.info.read_text())
    (out / "finephys_generator.json").write_text(json.dumps(meta, indent=1))
    print(out)


if __name__ == "__main__":
    main()
