"""Which generator to load: SD1.5 + motion adapter + heatmap encoder + LoRA from the user's
paths, or the small offline generator shipped in the package when no SD1.5 is configured."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..console import log
from ..errors import ModelNotFoundError
from ..models.registry import GENERATOR_PARTS, configured_path, shipped_generator, user_models_toml


@dataclass
class GeneratorSpec:
    sd15: Path
    motion_adapter: Path | None = None
    heatmap_encoder: Path | None = None
    lora: Path | None = None
    offline: bool = False
    sources: dict[str, str] = field(default_factory=dict)
    native_size: int | None = None    # the size the shipped generator was trained at
    pose_cfg: bool = False            # its sampling default (pipeline.SampleSettings.pose_cfg)

    def paths(self) -> dict[str, str | None]:
        return {k: (str(getattr(self, k)) if getattr(self, k) else None) for k in GENERATOR_PARTS}


def resolve_generator(**given: Path | None) -> GeneratorSpec:
    """Options, then FINEPHYS_<PART>_MODEL, then ~/.config/finephys/models.toml; with no SD1.5
    anywhere, the shipped offline generator (and its encoder and LoRA unless given)."""
    found = {k: configured_path(k, given.get(k)) for k in GENERATOR_PARTS}
    for name, (path, source) in found.items():
        if path is not None and not path.exists():
            raise ModelNotFoundError(f"{name} ({source}): {path} does not exist; expected "
                                     f"{GENERATOR_PARTS[name]}. See finephys models.")
    paths = {k: v[0] for k, v in found.items()}
    sources = {k: v[1] for k, v in found.items() if v[0] is not None}
    if paths["sd15"] is not None:
        return GeneratorSpec(**paths, sources=sources)
    bundle = shipped_generator()
    if bundle is None:
        raise ModelNotFoundError(
            f"no SD1.5 configured and no offline generator in this install: pass --sd15, set "
            f"FINEPHYS_SD15_MODEL or add it to {user_models_toml()} (see finephys models)")
    log.warning("no SD1.5 configured: using the small offline generator shipped in the package "
                "(%s); it renders mannequins only, see its README", bundle)
    return bundle_spec(bundle, paths["heatmap_encoder"], paths["lora"],
                       {**sources, "sd15": "shipped"})


def bundle_spec(bundle: Path, heatmap_encoder: Path | None = None, lora: Path | None = None,
                sources: dict | None = None) -> GeneratorSpec:
    """The spec of an offline-generator bundle folder (sd15/, heatmap_encoder/, lora/,
    finephys_generator.json), its encoder and LoRA unless given."""
    meta = json.loads((bundle / "finephys_generator.json").read_text()) \
        if (bundle / "finephys_generator.json").is_file() else {}
    return GeneratorSpec(sd15=bundle / "sd15", motion_adapter=None,
                         heatmap_encoder=heatmap_encoder or bundle / "heatmap_encoder",
                         lora=lora or ((bundle / "lora") if (bundle / "lora").is_dir() else None),
                         offline=True, sources=sources or {"sd15": str(bundle)},
                         native_size=meta.get("size"), pose_cfg=bool(meta.get("pose_cfg")))


def load_generator(spec: GeneratorSpec, *, device: str, dtype, allow_download: bool = False):
    """A FinePhysPipeline for the spec, the LoRA loaded and active."""
    from .components import load_components
    from .encoder import HeatmapEncoder
    from .lora import load_loras
    from .pipeline import FinePhysPipeline

    comps = load_components(spec.sd15, spec.motion_adapter, allow_download=allow_download)
    encoder = HeatmapEncoder.from_pretrained(spec.heatmap_encoder) if spec.heatmap_encoder \
        else None
    if encoder is None:
        log.warning("no heatmap encoder configured: the skeleton does not guide this run "
                    "(plain AnimateDiff)")
    pipe = FinePhysPipeline(comps, encoder, device=device, dtype=dtype)
    if spec.lora is not None:
        load_loras(pipe.pipe, spec.lora)
    return pipe
