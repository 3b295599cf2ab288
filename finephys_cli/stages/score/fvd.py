"""FVD of `score`: I3D (the standard) or VideoMAE features, Fréchet distance in float64."""

from __future__ import annotations

import numpy as np

from ...console import log, track
from ...errors import InputError
from ...io.fingerprint import model_fingerprint as fingerprint
from .context import ScoreContext, Skip
from .inputs import VideoItem, model_path
from ...metrics.frechet import FeatureStats, frechet_distance
from ...metrics.fvd import I3DFeatures, VideoMAEFeatures


def fvd(ctx: ScoreContext) -> None:

    cfg = ctx.cfg
    if not ctx.refs:
        raise Skip("needs --reference REAL_DIR")
    if cfg.fvd_backend == "i3d":
        path = model_path("i3d", ctx.models.get("i3d"))
        extractor = I3DFeatures(str(path), ctx.device, cfg.fvd_frames)
    elif cfg.fvd_backend == "videomae":
        path = model_path("videomae", ctx.models.get("videomae"))
        extractor = VideoMAEFeatures(str(path), ctx.device)
    else:
        raise InputError(f"fvd_backend must be i3d or videomae, got {cfg.fvd_backend!r}")

    def features(items: list[VideoItem], label: str) -> np.ndarray:
        """Features in batches of 8 videos; of each only the frames the extractor samples are
        decoded, so memory holds 8 x `frames` frames whatever the videos' length."""
        out, batch = [], []
        for it in track(items, description=f"fvd {label}", unit="video", mode=ctx.progress):
            frames = ctx.sampled(it, extractor.frames)
            if frames is None:
                continue
            batch.append(frames)
            if len(batch) == 8:
                out.append(extractor(batch))
                batch = []
        if batch:
            out.append(extractor(batch))
        return np.concatenate(out) if out else np.zeros((0, 1))

    gen = features(ctx.items, "generated")
    real = features(ctx.refs, "reference")
    if len(gen) < 2 or len(real) < 2:
        raise Skip("FVD needs at least 2 generated and 2 reference videos")
    value = frechet_distance(FeatureStats.from_features(real), FeatureStats.from_features(gen))
    dim = gen.shape[1]
    warning = None
    if min(len(gen), len(real)) < dim:
        warning = (f"N = {len(gen)} generated / {len(real)} reference is below the feature "
                   f"dimension {dim}: the covariances are singular and FVD is strongly biased "
                   f"upward at small N; compare only at equal N (use >= 256, ideally 2048)")
        log.warning("fvd: %s", warning)
    ctx.results["metrics"]["fvd"] = {
        "fvd": value, "n_generated": len(gen), "n_reference": len(real), "warning": warning,
        "protocol": {**extractor.protocol, "model": str(path), "sha256": fingerprint(path),
                     "covariance": "unbiased (1/(N-1))",
                     "sqrt": "symmetric eigh form, float64 (no scipy sqrtm)"}}
