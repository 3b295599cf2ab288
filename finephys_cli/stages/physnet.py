"""`physnet`: pose3d (S_dd) -> finephys.phys with S_pp, the fusion, fused 2D px, diagnostics."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..configs import config_hash
from ..io.fingerprint import model_fingerprint
from ..console import log, track
from ..data.normalize import denormalize_2d
from ..models.batching import map_pieces
from ..models.physnet import load_refiner, refine_fuse_project
from ..errors import InputError, UsageError
from ..io.manifest import shard_output_path
from ..io.poses_h5 import (PoseFile, PoseFileWriter, carry_video_attrs, shard_video_ids,
                           skip_no_person,
                           video_fingerprints)
from ..models.registry import resolve_model
from ..data.lift_data import overlap_mean, window_rows, window_starts


PROJECTIONS = ("weak", "learned")


@dataclass
class RefineConfig:
    """`finephys physnet`: S_dd refined by PhysNet (eq. 6-18) and fused; not the network's own
    PhysNetConfig (models/physnet.py)."""
    model: str | None = None
    mlp_model: str | None = None   # optional: also write the S_dd+S_MLP ablation
    batch_size: int = 256
    stride: int | None = None      # window step; None: half the model's frames
    # The fused 2D: "weak" = F[..., :2], the image-aligned weak perspective that S_dd is built
    # in; "learned" = the eq. 20 P. P was fitted to the detectors' 2D, whose joints sit
    # higher and narrower than the skeleton's (x 0.96, y 0.93): on held-out synth it moved the
    # fused 2D MPJPE from 3.6 to 6.3 px (PhysNet card). So P serves eq. 20's loss, not the output.
    projection: str = "weak"


def refine_windows(model, s_dd: np.ndarray, device: str, frames: int, batch: int,
                   projection=None, stride: int | None = None) -> dict[str, np.ndarray]:
    """Run a refiner (refine -> fuse -> project, `refine_fuse_project`) over a whole clip in
    overlapping windows; the overlaps are averaged (the fusion and the affine P commute with
    that mean)."""
    import torch

    t = len(s_dd)
    starts = window_starts(t, frames, stride or max(frames // 2, 1))
    wins = np.stack([s_dd[window_rows(s, frames, t)] for s in starts])

    def refine_piece(x):
        res = refine_fuse_project(model, projection, x)
        # A rollout can overflow on input far from any pose (seen on random joints): such a
        # window keeps S_dd as its S_pp, so the fused skeleton is S_dd there, not NaN.
        diverged = ~torch.isfinite(res["s_pp"]).flatten(1).all(1)
        if diverged.any():
            fallback = refine_fuse_project(_Identity(), projection, x[diverged])
            for name in ("s_pp", "fused", "xy"):
                res[name][diverged] = fallback[name].to(res[name].dtype)
            res["noise_fro"][diverged] = float("nan")
        out = {name: res[name].float().cpu().numpy() for name in ("s_pp", "fused", "xy",
                                                                  "noise_fro")}
        # M^-1 exists only where the rollout evaluated it (not at the seed frames).
        pad = torch.full((x.shape[0], frames), float("nan"), dtype=torch.float64)
        if "minv" in res:
            minv = res["minv"].double()
            finite = torch.isfinite(minv).flatten(2).all(-1)
            ev = torch.full(minv.shape[:2], float("nan"), dtype=torch.float64)
            ev[finite] = torch.linalg.eigvalsh(minv[finite]).min(-1).values.cpu()
            pad[:, 2:2 + ev.shape[1]] = ev
        out["minv_eig_min"] = pad.numpy()
        out["diverged"] = diverged.cpu().numpy()
        return out

    parts = map_pieces(refine_piece, torch.as_tensor(wins, dtype=torch.float32, device=device),
                       batch, device)
    diverged = int(np.concatenate([p.pop("diverged") for p in parts]).sum())
    if diverged:
        log.warning("physnet: the rollout overflowed in %d of %d windows; S_dd stands in for "
                    "S_pp there", diverged, len(starts))
    return {name: overlap_mean(np.concatenate([p[name] for p in parts]), starts, t)
            for name in parts[0]}


class _Identity:
    """A refiner whose S_pp is its input: the stand-in for a window whose rollout overflowed."""

    def __call__(self, s_dd, sample_noise: bool = False):
        import torch

        return {"s_pp": s_dd, "noise_fro": torch.zeros(s_dd.shape[:2], device=s_dd.device)}


def run_physnet(cfg: RefineConfig, path: Path, output: Path, *, device: str = "cpu",
                overwrite: bool = False, progress: str = "auto", shard=None) -> Path:
    model_dir = resolve_model("physnet", Path(cfg.model) if cfg.model else None)
    if cfg.projection not in PROJECTIONS:
        raise UsageError(f"physnet config: projection {cfg.projection!r} must be one of "
                         f"{', '.join(PROJECTIONS)}")
    model, proj = load_refiner(model_dir, device, expected="PhysNet")
    if cfg.projection == "weak":
        proj = None
    mlp = None
    if cfg.mlp_model:
        mlp, _ = load_refiner(Path(cfg.mlp_model), device, expected="MLPRefiner")
    chash = config_hash({**asdict(cfg), "model": str(model_dir.resolve()),
                         "model_digest": model_fingerprint(model_dir),
                         "mlp_digest": model_fingerprint(Path(cfg.mlp_model)) if cfg.mlp_model
                         else None})
    frames = model.config.frames
    if cfg.stride is not None and not (isinstance(cfg.stride, int) and 1 <= cfg.stride <= frames):
        raise UsageError(f"physnet config: stride {cfg.stride!r} must be a whole number 1 to "
                         f"{frames} (the window); a longer step would leave frames no window "
                         "covers")
    ids, shard_info = shard_video_ids(path, ["finephys.pose3d"], shard)
    output = shard_output_path(Path(output), shard)
    with PoseFile(path, formats=["finephys.pose3d"]) as pf, \
            PoseFileWriter(output, format="finephys.phys", config={**asdict(cfg),
                           "model": str(model_dir)}, config_hash=chash, provenance=[path],
                           overwrite=overwrite, shard=shard_info, root_attrs={"physnet": str(model_dir)},
                           inputs=video_fingerprints(pf, ids)) as w:
        if w.skipped:
            return output
        for vid in track(ids, description="physnet", unit="video", mode=progress):
            if w.is_complete(vid):
                continue
            with w.guard(vid, f"{path}:{vid}"):
                dd = pf.read(vid, "pose3d_dd").astype(np.float64)
                if np.isnan(dd).all():        # a pose with no person in it: left out, as lift does
                    skip_no_person(w, path, vid)
                    continue
                if np.isnan(dd).any():
                    raise InputError("NaN in pose3d_dd")
                if len(dd) < 6:
                    raise InputError(f"{len(dd)} frames; PhysNet needs 6")
                res = refine_windows(model, dd, device, frames, cfg.batch_size, proj, cfg.stride)
                root, scale = pf.read(vid, "root2d"), float(pf.read(vid, "scale"))
                arrays = {name: pf.read(vid, name) for name in pf.datasets(vid)}
                arrays.update(pose3d_pp=res["s_pp"].astype(np.float32),
                              pose3d_fused=res["fused"].astype(np.float32),
                              pose2d_fused=denormalize_2d(res["xy"], root, scale
                                                          ).astype(np.float32),
                              noise_fro=res["noise_fro"].astype(np.float32),
                              minv_eig_min=res["minv_eig_min"].astype(np.float32))
                if mlp is not None:
                    arrays["pose3d_mlp"] = refine_windows(
                        mlp, dd, device, frames, cfg.batch_size, stride=cfg.stride
                    )["s_pp"].astype(np.float32)
                w.write_video(vid, carry_video_attrs(pf, vid, output), arrays)
        return w.finish()
