"""CLIP-SIM (appendix B.1, eq. 27-29), CLIP-SIM* (eq. 25/30-31) and PickScore (eq. 32-33).

Embeddings are L2-normalised; the raw cosines are kept and the text score alone is shown ×100
(the CLIP logit scale; the paper's text column ≈27 is on that scale, its domain and smooth
columns ≈0.5-0.9 are raw cosines). Frames go through the model's own `CLIPImageProcessor`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ..errors import ModelNotFoundError

STAR_KS = (1, 2, 4, 8, 16)


def _pooled(out):
    """transformers v5 returns a ModelOutput from get_*_features (v4: a tensor)."""
    import torch

    return out if isinstance(out, torch.Tensor) else out.pooler_output


@dataclass
class ClipEmbedder:
    """A local CLIPModel folder (also PickScore_v1, a CLIPModel) with its processor."""
    model: object
    processor: object
    device: str = "cpu"
    batch_size: int = 32

    @classmethod
    def load(cls, path, processor_path=None, device: str = "cpu") -> "ClipEmbedder":
        from transformers import CLIPModel, CLIPProcessor


        try:
            model = CLIPModel.from_pretrained(path, local_files_only=True).to(device).eval()
            proc = CLIPProcessor.from_pretrained(processor_path or path, local_files_only=True)
        except OSError as exc:
            raise ModelNotFoundError(f"{path}: not a CLIPModel folder with its processor "
                                     f"({str(exc).splitlines()[0]})") from exc
        return cls(model, proc, device)

    @property
    def logit_scale(self) -> float:
        return float(self.model.logit_scale.exp())

    def images(self, frames: np.ndarray) -> np.ndarray:
        """(T,H,W,3) uint8 -> (T,D) unit vectors (float64)."""
        import torch

        out = []
        with torch.inference_mode():
            for s in range(0, len(frames), self.batch_size):
                px = self.processor(images=list(frames[s:s + self.batch_size]),
                                    return_tensors="pt")["pixel_values"].to(self.device)
                out.append(_pooled(self.model.get_image_features(pixel_values=px)).float().cpu())
        e = torch.cat(out).double().numpy()
        return e / np.linalg.norm(e, axis=1, keepdims=True)

    def texts(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        tok = self.processor.tokenizer(list(texts), padding=True, truncation=True,
                                       max_length=77, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            e = _pooled(self.model.get_text_features(**tok)).double().cpu().numpy()
        return e / np.linalg.norm(e, axis=1, keepdims=True)


def text_score(frames_emb: np.ndarray, text_emb: np.ndarray) -> float:
    """Eq. 27, ×100: the mean over frames of 100·cos(frame, prompt)."""
    return float(100.0 * (frames_emb @ text_emb).mean())


def domain_score(frames_emb: np.ndarray, refs_emb: np.ndarray) -> float:
    """Eq. 28 (one or more reference images) and eq. 25 (CLIP-SIM*'s start/middle/end frames of
    real same-class videos): the mean over frames and references of cos."""
    return float((frames_emb @ np.atleast_2d(refs_emb).T).mean())


def smooth_score(frames_emb: np.ndarray, pairs: str = "consecutive") -> float:
    """Eq. 29: mean cos over frame pairs, consecutive (t, t+1) or all i < j."""
    if len(frames_emb) < 2:
        return float("nan")
    sim = frames_emb @ frames_emb.T
    if pairs == "consecutive":
        return float(np.diagonal(sim, 1).mean())
    if pairs == "all":
        i, j = np.triu_indices(len(sim), 1)
        return float(sim[i, j].mean())
    raise ValueError(f"pairs must be consecutive or all, got {pairs!r}")


def reference_anchor_indices(n_frames: int) -> list[int]:
    """CLIP-SIM*'s start, middle, end frames: 0, ⌊(T−1)/2⌋, T−1."""
    return [0, (n_frames - 1) // 2, n_frames - 1]


def uniform_indices(n_frames: int, k: int) -> np.ndarray:
    """K frames spread over the clip (segment centres); the same rule for both videos."""
    edges = np.linspace(0, n_frames, k + 1)
    return np.floor((edges[:-1] + edges[1:]) / 2).astype(int).clip(0, n_frames - 1)


def smooth_star(frames_emb: np.ndarray, refs_emb: Sequence[np.ndarray], k: int) -> float:
    """Eq. 31 as a mean: K frames sampled uniformly from the generated video and from each of
    the M reference videos, frame k against frame k."""
    g = frames_emb[uniform_indices(len(frames_emb), k)]
    vals = [float((g * r[uniform_indices(len(r), k)]).sum(1).mean()) for r in refs_emb]
    return float(np.mean(vals))


def pickscore(frames_emb: np.ndarray, text_emb: np.ndarray, logit_scale: float) -> float:
    """Eq. 32-33: the mean over frames of exp(logit_scale)·cos(prompt, frame)."""
    return float(logit_scale * (frames_emb @ text_emb).mean())
