"""Generator losses (eq. 21-24; MotionDirector): ε-MSE on one frame through the spatial path,
on the clip through the temporal path, and the appearance-debiased temporal loss."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def spatial_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_spat: pred/target (B,C,1,h,w) for the one sampled frame."""
    return F.mse_loss(pred.float(), target.float())


def temporal_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_temp: the mean over all frames of ‖ε̂ − ε‖²; (B,C,F,h,w)."""
    return F.mse_loss(pred.float(), target.float())


def ad_temporal_loss(pred: torch.Tensor, target: torch.Tensor, anchor: int,
                     beta: float = 1.0) -> torch.Tensor:
    """L_ad-temp: mean_f ‖α(ε̂_f − ε_f) − β(ε̂_a − ε_a)‖² with α = √(β² + 1) and a random
    anchor frame a, which removes what all frames share (appearance) from the target."""
    alpha = math.sqrt(beta * beta + 1.0)
    err = pred.float() - target.float()
    return (alpha * err - beta * err[:, :, anchor:anchor + 1]).pow(2).mean()
