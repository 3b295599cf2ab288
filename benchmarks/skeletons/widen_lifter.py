"""A lifter with a longer temporal window, warm-started from a trained one: the same weights,
its temporal embedding and mean prior stretched (linearly) from F to F' frames per half. Then
fine-tune it with `train-lift --set init_from=OUT` (device_d.sh: LIFT_INIT=OUT).
    python benchmarks/skeletons/widen_lifter.py LIFTER_DIR FRAMES OUT_DIR"""
import dataclasses
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from finephys_cli.models.lifter import InContextLifter  # noqa: E402


def stretch(x: torch.Tensor, frames: int, dim: int) -> torch.Tensor:
    """Linear resampling of x along `dim` to `frames` samples (ends kept)."""
    moved = x.movedim(dim, -1)
    flat = moved.reshape(-1, 1, moved.shape[-1])
    out = torch.nn.functional.interpolate(flat, size=frames, mode="linear", align_corners=True)
    return out.reshape(*moved.shape[:-1], frames).movedim(-1, dim)


def widen(src: InContextLifter, frames: int) -> InContextLifter:
    cfg = dataclasses.replace(src.config, frames=frames)
    dst = InContextLifter(cfg)
    state = src.state_dict()
    f = src.config.frames
    te = state["temp_embed"]            # (1, 2F, 1, C): the 2D half, then the prior half
    state["temp_embed"] = torch.cat([stretch(te[:, :f], frames, 1),
                                     stretch(te[:, f:], frames, 1)], 1)
    for name in ("mean_prior",):
        state[name] = stretch(state[name], frames, 0)
    for name in ("bank_2d", "bank_3d"):
        state[name] = stretch(state[name], frames, 1)
    dst.load_state_dict(state)
    return dst.eval()


if __name__ == "__main__":
    src = InContextLifter.from_pretrained(Path(sys.argv[1]))
    out = widen(src, int(sys.argv[2]))
    print(out.save_pretrained(Path(sys.argv[3]), {"trained_steps": 0,
                                                  "widened_from": str(sys.argv[1])}))
