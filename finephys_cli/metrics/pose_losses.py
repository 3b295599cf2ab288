"""The differentiable twins of metrics/pose.py, for training: the same definitions on torch
tensors, with a joint mask where the evaluation metrics skip NaN joints. Evaluation reports
use metrics/pose.py; these are losses and training-time validation numbers."""

from __future__ import annotations


def mpjpe_loss(pred, target, mask=None):
    """MPJPE over the joints `mask` keeps (all when None)."""
    err = (pred - target).norm(dim=-1)
    if mask is None:
        return err.mean()
    m = mask[..., None].expand_as(err).float()
    return (err * m).sum() / m.sum().clamp_min(1)


def scaled_mpjpe_loss(pred, target, mask=None):
    """MPJPE after the least-squares scale of the prediction (VideoPose3D's N-MPJPE when both
    are root-relative, as lift_loss gives them)."""
    num = (pred * target).sum(dim=(-1, -2), keepdim=True)
    den = (pred * pred).sum(dim=(-1, -2), keepdim=True).clamp_min(1e-9)
    return mpjpe_loss(pred * num / den, target, mask)


def velocity_loss(pred, target, mask=None):
    """MPJVE: the error of the frame-to-frame displacements (frames on axis 1)."""
    vp, vt = pred[:, 1:] - pred[:, :-1], target[:, 1:] - target[:, :-1]
    return mpjpe_loss(vp, vt, None if mask is None else mask[:, 1:] & mask[:, :-1])


def lift_loss(pred, target, mask, weights):
    """The lifter's training loss: weighted MPJPE, root-relative N-MPJPE and MPJVE. The MPJPE
    and MPJVE terms are on the image-aligned poses as given, the root's motion included, unlike
    eval-poses' root-relative MPJVE; not the paper's loss (it trains the lifter through eq. 19's
    fusion, which `train-physnet --set joint_lift=true` does)."""
    root_rel_p, root_rel_t = pred - pred[..., :1, :], target - target[..., :1, :]
    return (weights[0] * mpjpe_loss(pred, target, mask)
            + weights[1] * scaled_mpjpe_loss(root_rel_p, root_rel_t, mask)
            + weights[2] * velocity_loss(pred, target, mask))
