"""FVD feature extractors (eq. 34): I3D logits from StyleGAN-V's TorchScript `i3d_torchscript.pt`,
or mean-pooled VideoMAE features from a local transformers `VideoMAEModel` (the content-debiased
variant of Ge et al. 2024). The Fréchet distance itself is `metrics.frechet`.

I3D preprocessing (recorded with every result): the video's frames resampled to `frames`
(segment centres), each resized to 224×224 (bilinear, antialias, aspect squashed, as the TF
original), uint8 → [−1, 1]; the module is then called with rescale=False, resize=False,
return_features=True and returns the 400-d pre-softmax logits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ..errors import ModelNotFoundError
from ..io.video import frame_plan

I3D_MIN_FRAMES = 9


def _resize(video: np.ndarray, size: int):
    """(T,H,W,3) uint8 -> (T,3,size,size) float in [0,255]."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(video)).permute(0, 3, 1, 2).float()
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                         antialias=True)


@dataclass
class I3DFeatures:
    path: str
    device: str = "cpu"
    frames: int = 16
    size: int = 224
    model: object = field(default=None, repr=False)

    def __post_init__(self) -> None:
        import torch


        if self.frames < I3D_MIN_FRAMES:
            raise ValueError(f"I3D needs at least {I3D_MIN_FRAMES} frames")
        try:
            self.model = torch.jit.load(self.path, map_location=self.device).eval()
        except (RuntimeError, ValueError, FileNotFoundError) as exc:
            raise ModelNotFoundError(f"{self.path}: not a TorchScript I3D "
                                     f"({str(exc).splitlines()[0]})") from exc

    @property
    def protocol(self) -> dict:
        return {"extractor": "i3d-torchscript", "frames": self.frames, "sampling":
                "segment centres", "resize": f"{self.size}x{self.size} bilinear antialias, "
                "aspect squashed", "range": "[-1, 1] (x/127.5 - 1)",
                "call": "rescale=False, resize=False, return_features=True",
                "feature": "400-d logits before softmax"}

    def __call__(self, videos: list[np.ndarray]) -> np.ndarray:
        import torch


        batch = []
        for v in videos:
            x = _resize(v[frame_plan(len(v), self.frames)], self.size) / 127.5 - 1.0          # (T,3,S,S)
            batch.append(x.permute(1, 0, 2, 3))                     # (3,T,S,S)
        with torch.inference_mode():
            out = self.model(torch.stack(batch).to(self.device), False, False, True)
        return out.double().cpu().numpy()


@dataclass
class VideoMAEFeatures:
    """A local transformers VideoMAEModel; its mean-pooled last hidden state."""
    path: str
    device: str = "cpu"
    model: object = field(default=None, repr=False)
    processor: object = field(default=None, repr=False)

    def __post_init__(self) -> None:
        from transformers import VideoMAEImageProcessor, VideoMAEModel


        try:
            self.model = VideoMAEModel.from_pretrained(self.path, local_files_only=True) \
                .to(self.device).eval()
            self.processor = VideoMAEImageProcessor.from_pretrained(self.path,
                                                                    local_files_only=True)
        except OSError as exc:
            raise ModelNotFoundError(f"{self.path}: not a VideoMAEModel folder "
                                     f"({str(exc).splitlines()[0]})") from exc

    @property
    def frames(self) -> int:
        return int(self.model.config.num_frames)

    @property
    def protocol(self) -> dict:
        return {"extractor": "videomae", "frames": self.frames, "sampling": "segment centres",
                "preprocess": "the model's VideoMAEImageProcessor",
                "feature": f"{self.model.config.hidden_size}-d mean of the last hidden state"}

    def __call__(self, videos: list[np.ndarray]) -> np.ndarray:
        import torch


        clips = [list(v[frame_plan(len(v), self.frames)]) for v in videos]
        px = self.processor(clips, return_tensors="pt")["pixel_values"].to(self.device)
        with torch.inference_mode():
            hidden = self.model(pixel_values=px).last_hidden_state
        return hidden.mean(1).double().cpu().numpy()
