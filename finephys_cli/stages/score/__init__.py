"""`score`: CLIP-SIM, CLIP-SIM*, PickScore, FVD and pose fidelity over a folder of videos.

Each video's prompt, class and conditioning skeleton come from its `generate` sidecar
(<stem>.json) or from a --prompts CSV (video, prompt, class). Reference videos (for CLIP-SIM*
and FVD) get their class from a sidecar, a `classes.csv` (video, class) in their folder, or a
synth name (fxNN_...). With `all`, a metric whose model or reference is missing is skipped
with the reason; a metric asked for by name that cannot run is an error.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ...configs import config_hash
from ...console import log
from ...errors import (InputError, ModelNotFoundError, OutputExistsError, PartialFailure,
                       UsageError)
from ...io.fingerprint import file_fingerprint
from .clip_metrics import clip_sim, clip_sim_star, pickscore
from .context import ScoreContext, Skip
from .fvd import fvd
from .inputs import VideoItem, collect_items
from .pose import pose_fidelity
from .report import write_report

__all__ = ["METRICS", "ScoreConfig", "VideoItem", "collect_items", "run_score"]

METRICS = ("clip-sim", "clip-sim-star", "pickscore", "fvd", "pose-fidelity")


@dataclass
class ScoreConfig:
    metrics: tuple[str, ...] = ("all",)
    smooth_pairs: str = "consecutive"     # eq. 29 pairs: consecutive or all
    star_references: int = 3              # M reference videos per class (CLIP-SIM*)
    star_ks: tuple[int, ...] = (1, 2, 4, 8, 16)
    fvd_backend: str = "i3d"              # i3d or videomae
    fvd_frames: int = 16
    pck_alpha: float = 0.1
    pose_locator: str = "detect"          # detect (YOLO pose, any video) or parts (colour-coded
    seed: int = 0                         # mannequin of synth --mannequin parts)



RUNNERS = {"clip-sim": clip_sim, "clip-sim-star": clip_sim_star, "pickscore": pickscore,
           "fvd": fvd, "pose-fidelity": pose_fidelity}


def _keys(cfg: ScoreConfig, items: list[VideoItem], refs: list[VideoItem], models: dict,
          extra: dict) -> tuple[str, str]:
    """(config key, inputs key): the config and the models named; every video's fingerprint
    (a video regenerated in place changes it)."""
    config = config_hash({"config": asdict(cfg), **extra,
                          "models": {k: str(v) for k, v in models.items() if v is not None}})
    inputs = config_hash({"generated": [[it.name, file_fingerprint(it.path)] for it in items],
                          "reference": [[r.name, file_fingerprint(r.path)] for r in refs]})
    return config, inputs


def _made_with(output: Path) -> dict:
    try:
        protocol = json.loads(Path(output).read_text())["protocol"]
        return {k: protocol.get(k) for k in ("config_key", "inputs_key", "n_failed")}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def run_score(cfg: ScoreConfig, generated: Path, output: Path, *, reference: Path | None = None,
              prompts: Path | None = None, domain_images: Path | None = None,
              models: dict | None = None, device: str = "cpu", strict: bool = False,
              overwrite: bool = False, progress: str = "auto") -> list[Path]:
    """Score every video. The rerun rule of every stage: same config and inputs, the report is
    kept; same config with changed inputs (or failures last time), it is redone; another config
    is refused without --overwrite. A video that cannot be read is recorded in the report's
    `failures` and left out of every metric (exit 3)."""
    wanted = METRICS if "all" in cfg.metrics else tuple(cfg.metrics)
    # A metric asked for by name that cannot run is an error: a script that asked for FVD and
    # got none must fail. `--metric all` skips what cannot run, with the reason (or --strict).
    strict = strict or "all" not in cfg.metrics
    bad = [m for m in wanted if m not in METRICS]
    if bad:
        raise UsageError(f"--metric {', '.join(bad)}: choose from {', '.join(METRICS)} or all")
    models = models or {}
    items = collect_items(generated, prompts)
    refs = collect_items(reference) if reference is not None else []
    output = Path(output)
    config_key, inputs_key = _keys(cfg, items, refs, models, {
        "strict": strict, "domain_images": str(domain_images) if domain_images else None})
    if output.exists() and not overwrite:
        made = _made_with(output)
        if made.get("config_key") != config_key:
            why = "other settings" if made else "not a finephys score report"
            raise OutputExistsError(f"{output} exists ({why}); use --overwrite to replace "
                                    "it, or another -o")
        if made.get("inputs_key") == inputs_key and not made.get("n_failed"):
            log.info("%s is up to date; use --overwrite to score again", output)
            return [output, output.with_suffix(".csv")]
        log.info("%s: the videos changed (or some failed last time); scoring again", output)
    results: dict[str, dict] = {"protocol": {"generated": str(generated), "n_generated":
                                             len(items), "reference": str(reference)
                                             if reference else None, "n_reference": len(refs),
                                             "config": asdict(cfg), "device": device,
                                             "config_key": config_key,
                                             "inputs_key": inputs_key},
                                "metrics": {}, "skipped": {}}
    per_video: dict[str, dict] = {it.name: {"video": it.name, "class": it.gym_class,
                                            "prompt": it.prompt} for it in items}
    ctx = ScoreContext(cfg, items, refs, models, device, domain_images, progress, per_video,
                       results)
    for metric in wanted:
        try:
            RUNNERS[metric](ctx)
        except (ModelNotFoundError, Skip) as exc:
            if strict:
                raise ModelNotFoundError(f"{metric}: {exc}") if "model" in str(exc) \
                    else InputError(f"{metric}: {exc}") from None
            log.warning("skipping %s: %s", metric, exc)
            results["skipped"][metric] = str(exc)
    results["failures"] = ctx.failures
    results["protocol"]["n_failed"] = len(ctx.failures)
    paths = write_report(results, per_video, output)
    if ctx.failures:
        raise PartialFailure(ctx.failures, output=[str(p) for p in paths])
    return paths
