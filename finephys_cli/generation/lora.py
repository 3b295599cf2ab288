"""Spatial and temporal LoRA on UNetMotionModel through peft (rank 64, dropout 0.1): the
spatial adapter on the spatial attention layers, the temporal one on the motion modules."""

from __future__ import annotations
from ..errors import ModelNotFoundError

SPATIAL = r".*attentions\.\d+\.transformer_blocks\.\d+\.attn[12]\.(to_q|to_k|to_v|to_out\.0)"
TEMPORAL = r".*motion_modules\.\d+\.transformer_blocks\.\d+\.attn[12]\.(to_q|to_k|to_v|to_out\.0)"
ADAPTERS = ("spatial", "temporal")


def add_loras(unet, rank: int = 64, dropout: float = 0.1, alpha: int | None = None) -> None:
    import warnings

    from peft import LoraConfig

    for name, pattern in (("spatial", SPATIAL), ("temporal", TEMPORAL)):
        with warnings.catch_warnings():   # two adapters by design (see load_loras)
            warnings.filterwarnings("ignore", message="Already found a `peft_config`")
            unet.add_adapter(LoraConfig(r=rank, lora_alpha=alpha or rank, lora_dropout=dropout,
                                        init_lora_weights="gaussian", target_modules=pattern),
                             name)
    # add_adapter activates only the last one added: switch both on.
    unet.set_adapters(list(ADAPTERS), [1.0, 1.0])


def lora_mode(unet, mode: str) -> None:
    """spatial: train the spatial LoRA, temporal off (scale 0); temporal: train the temporal
    LoRA with the spatial one on but frozen; both; off (scales 0, nothing trains)."""
    scales = {"spatial": (1.0, 0.0), "temporal": (1.0, 1.0), "both": (1.0, 1.0),
              "off": (0.0, 0.0)}
    if mode not in scales:
        raise ValueError(f"LoRA mode must be one of {', '.join(scales)}, got {mode!r}")
    unet.set_adapters(list(ADAPTERS), list(scales[mode]))
    train = {"spatial": ("spatial",), "temporal": ("temporal",), "both": ADAPTERS, "off": ()}
    for name, param in unet.named_parameters():
        if "lora_" in name:
            param.requires_grad_(any(f".{a}." in name for a in train[mode]))


def save_loras(unet, folder, adapters=ADAPTERS) -> list:
    """Each named adapter to `folder/<name>/pytorch_lora_weights.safetensors` in diffusers'
    pipeline LoRA format (`unet.`-prefixed keys) with its LoraConfig as metadata, so a stock
    `AnimateDiffPipeline.load_lora_weights(folder/<name>, adapter_name=<name>)` restores it,
    alpha included."""
    from pathlib import Path

    from diffusers import AnimateDiffPipeline
    from peft.utils import get_peft_model_state_dict

    written = []
    for name in adapters:
        out = Path(folder) / name
        AnimateDiffPipeline.save_lora_weights(
            str(out), unet_lora_layers=get_peft_model_state_dict(unet, adapter_name=name),
            unet_lora_adapter_metadata=unet.peft_config[name].to_dict())
        written.append(out)
    return written


def load_loras(pipe, folder, scales: dict[str, float] | None = None) -> list[str]:
    """Load every `folder/<adapter>/` that exists into a (stock) AnimateDiffPipeline and
    activate them; returns the adapter names."""
    from pathlib import Path


    names = [n for n in ADAPTERS if (Path(folder) / n / "pytorch_lora_weights.safetensors").is_file()]
    if not names:
        raise ModelNotFoundError(f"{folder}: no spatial/ or temporal/ pytorch_lora_weights."
                                 f"safetensors (written by finephys train-lora)")
    import warnings

    for n in names:
        with warnings.catch_warnings():
            # Two adapters in one UNet is the design (spatial + temporal), not the accident
            # peft warns about on the second one.
            warnings.filterwarnings("ignore", message="Already found a `peft_config`")
            pipe.load_lora_weights(str(Path(folder) / n), adapter_name=n)
    pipe.set_adapters(names, [float((scales or {}).get(n, 1.0)) for n in names])
    return names
