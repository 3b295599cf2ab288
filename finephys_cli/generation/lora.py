"""Spatial and temporal LoRA on UNetMotionModel through peft (rank 64, dropout 0.1): the
spatial adapter on the spatial attention layers, the temporal one on the motion modules."""

from __future__ import annotations

SPATIAL = r".*attentions\.\d+\.transformer_blocks\.\d+\.attn[12]\.(to_q|to_k|to_v|to_out\.0)"
TEMPORAL = r".*motion_modules\.\d+\.transformer_blocks\.\d+\.attn[12]\.(to_q|to_k|to_v|to_out\.0)"
ADAPTERS = ("spatial", "temporal")


def add_loras(unet, rank: int = 64, dropout: float = 0.1, alpha: int | None = None) -> None:  # noqa: ANN001
    from peft import LoraConfig

    for name, pattern in (("spatial", SPATIAL), ("temporal", TEMPORAL)):
        unet.add_adapter(LoraConfig(r=rank, lora_alpha=alpha or rank, lora_dropout=dropout,
                                    init_lora_weights="gaussian", target_modules=pattern), name)
    # add_adapter activates only the last one added: switch both on.
    unet.set_adapters(list(ADAPTERS), [1.0, 1.0])


def lora_mode(unet, mode: str) -> None:  # noqa: ANN001
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
