"""Generator losses (eq. 21-24; MotionDirector): ε-MSE on one frame through the spatial path,
on the clip through the temporal path, and the appearance-debiased temporal loss."""

from __future__ import annotations

import math

import torch


def weighted_mean(sq: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """The mean of `sq` (B,C,...), each cell counted `weight` (B,1,...) times over its
    channels; the plain mean without weights (the paper's losses)."""
    if weight is None:
        return sq.mean()
    return (sq * weight).sum() / (weight.sum() * sq.shape[1])


def spatial_loss(pred: torch.Tensor, target: torch.Tensor,
                 weight: torch.Tensor | None = None) -> torch.Tensor:
    """L_spat: pred/target (B,C,1,h,w) for the one sampled frame."""
    return weighted_mean((pred.float() - target.float()) ** 2, weight)


def temporal_loss(pred: torch.Tensor, target: torch.Tensor,
                  weight: torch.Tensor | None = None) -> torch.Tensor:
    """L_temp: the mean over all frames of ‖ε̂ − ε‖²; (B,C,F,h,w)."""
    return spatial_loss(pred, target, weight)


def ad_temporal_loss(pred: torch.Tensor, target: torch.Tensor, anchor: int,
                     beta: float = 1.0, weight: torch.Tensor | None = None) -> torch.Tensor:
    """L_ad-temp: mean_f ‖α(ε̂_f − ε_f) − β(ε̂_a − ε_a)‖² with α = √(β² + 1) and a random
    anchor frame a, which removes what all frames share (appearance) from the target. A cell
    weighs the larger of its own and the anchor's weight."""
    alpha = math.sqrt(beta * beta + 1.0)
    err = pred.float() - target.float()
    sq = (alpha * err - beta * err[:, :, anchor:anchor + 1]).pow(2)
    if weight is None:
        return sq.mean()
    return weighted_mean(sq, torch.maximum(weight, weight[:, :, anchor:anchor + 1]))
