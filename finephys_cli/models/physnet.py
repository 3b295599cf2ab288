"""PhysNet (eq. 6-18): Euler-Lagrange re-estimation of a 3D pose sequence.

State q_t ∈ R^51 (the 17x3 pose). A global encoder over the whole S_dd (eq. 6) and a local
encoder over 3-frame windows (eq. 7-8) are fused into q_t. Heads give J_t, C_t ∈ R^51
(eq. 10-11), a symmetric M_t^-1 from 1326 = 51·52/2 values (eq. 12-13) and the noise N_t, whose
51 columns are a predicted mean plus Gaussian samples in training and the mean at evaluation
(eq. 14-15; the paper's G samples with σ² = 1: `noise_std=1`). Then q̈_t = (M^-1 + N)(J − C)
(eq. 16) and q̂_{t+1} = q̈_t·dt² + 2q_t − q_{t−1} (eq. 17), forward from the first 3 frames and
backward from the last 3 (the same network on the time-reversed sequence, so the backward local
window is {t+2, t+1, t} of the original frames); middle frames average both, and a pose decoder
gives S_pp (eq. 18).

J and C are predicted in units of 1/dt² (so J − C is a displacement per step): this keeps the
heads' outputs O(1) whatever dt is, and makes dt itself cancel. With zero heads the rollout is
exactly constant velocity.

Departures from the paper, each a config field where it can be switched (the model card has the
ablations):
- The heads see [q_t, q̂_t, q̂_t − q̂_{t−1}]: the encoded state of the observed frame, and the
  rolled-out state and its velocity, which eq. 17 then advances (`rollout="autoregressive"`);
  eq. 10-14 write the heads as functions of q_t alone. `rollout="teacher"` advances the encoded
  states instead (one step, teacher-forced; eq. 17 read literally): in the session 18
  ablation it was equal in position and slightly smoother (model card). The heads' extra
  inputs were not ablated.
- `positive_definite` (default): M^-1 = L·Lᵀ + εI from the same 1326 values, so it is SPD as an
  inverse inertia must be; the paper's plain symmetric fill (eq. 13) has negative eigenvalues
  in practice (every rollout step of the v0.1 model had one).
- `noise_std=0` (default): N is the predicted mean alone, still penalised by L_noise with the
  paper's weight; G's unit-variance sampling is off. Ablation (3 seeds, fused N-MPJPE mm,
  synth held-out / our DeepMimic humanoid validation renders): σ = 1 86.6 / 235.3, learned σ
  (the v0.1 models, `noise_std=None`) 81.7 / 232.1, σ = 0 74.6 / 228.2.
- `legacy_local_window`: the v0.1 bug, a local encoder fed {t−2, t−2, t} instead of eq. 7's
  {t−2, t−1, t}; true only in configs of models trained that way.
- `forward` returns ‖N‖_F of both directions summed at each t, so L_noise counts the forward
  and the backward N_t (eq. 19 writes one N_t per t).
Note that the matrix applied in eq. 16 is M^-1 + N; only M^-1 is SPD.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .common import SavableMixin
from ..errors import InputError, UsageError

D = 51
N_TRI = D * (D + 1) // 2   # 1326
ROLLOUTS = ("autoregressive", "teacher")


@dataclass
class PhysNetConfig:
    hidden: int = 192
    global_layers: int = 2
    heads: int = 4
    frames: int = 16
    dt: float = 1.0 / 25.0
    rollout: str = "autoregressive"   # or "teacher" (one-step, teacher-forced)
    positive_definite: bool = True    # M^-1 = L·Lᵀ + εI (SPD) instead of eq. 13's symmetric fill
    pd_eps: float = 1e-3
    head_init_std: float = 1e-3
    noise_std: float | None = 0.0     # σ of G (eq. 14; the paper: 1); None: learned
    noise_init_logstd: float = -4.0
    legacy_local_window: bool = False  # v0.1 weights only: local encoder saw {t-2, t-2, t}


def symmetric_from_upper(values: torch.Tensor, n: int = D) -> torch.Tensor:
    """(…, n(n+1)/2) upper-triangle values -> (…, n, n) exactly symmetric matrices (eq. 13)."""
    iu = torch.triu_indices(n, n, device=values.device)
    m = values.new_zeros(values.shape[:-1] + (n, n))
    m[..., iu[0], iu[1]] = values
    return m + m.transpose(-1, -2) - torch.diag_embed(torch.diagonal(m, dim1=-2, dim2=-1))


def lower_from_values(values: torch.Tensor, n: int = D) -> torch.Tensor:
    il = torch.tril_indices(n, n, device=values.device)
    m = values.new_zeros(values.shape[:-1] + (n, n))
    m[..., il[0], il[1]] = values
    return m


class PhysNet(SavableMixin, nn.Module):
    config_class = PhysNetConfig
    legacy_defaults = {"positive_definite": False, "noise_std": None,
                       "legacy_local_window": True}

    def __init__(self, config: PhysNetConfig | None = None):
        super().__init__()
        self.config = cfg = config or PhysNetConfig()
        if cfg.rollout not in ROLLOUTS:
            raise InputError(f"PhysNet rollout must be {' or '.join(ROLLOUTS)}, got "
                             f"{cfg.rollout!r}")
        h = cfg.hidden
        self.g_in = nn.Linear(D, h)
        self.g_pos = nn.Parameter(torch.zeros(1, 256, h))
        nn.init.trunc_normal_(self.g_pos, std=0.02)
        layer = nn.TransformerEncoderLayer(h, cfg.heads, 2 * h, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.g_enc = nn.TransformerEncoder(layer, cfg.global_layers, enable_nested_tensor=False)
        self.g_out = nn.Linear(h, D)
        self.l_enc = nn.Sequential(nn.Linear(3 * D, h), nn.GELU(), nn.Linear(h, h), nn.GELU(),
                                   nn.Linear(h, D))
        self.fuse = nn.Linear(2 * D, D)
        self.trunk = nn.Sequential(nn.Linear(3 * D, h), nn.GELU(), nn.Linear(h, h), nn.GELU())
        self.head_j = nn.Linear(h, D)
        self.head_c = nn.Linear(h, D)
        self.head_m = nn.Linear(h, N_TRI)
        self.head_n = nn.Linear(h, 2 * D)
        self.decoder = nn.Sequential(nn.Linear(D, h), nn.GELU(), nn.Linear(h, D))
        self._init_weights()

    def _init_weights(self) -> None:
        cfg = self.config
        for lin in (self.g_out, self.l_enc[-1], self.decoder[-1]):
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)
        with torch.no_grad():   # q_t starts as the mean of two copies of S_dd, i.e. S_dd
            self.fuse.weight.zero_()
            self.fuse.weight[:, :D] = 0.5 * torch.eye(D)
            self.fuse.weight[:, D:] = 0.5 * torch.eye(D)
            self.fuse.bias.zero_()
        for head in (self.head_j, self.head_c, self.head_m, self.head_n):
            nn.init.normal_(head.weight, std=cfg.head_init_std)
            nn.init.zeros_(head.bias)
        with torch.no_grad():   # M^-1 starts near the identity (or L near the identity)
            idx = torch.tril_indices(D, D) if cfg.positive_definite else torch.triu_indices(D, D)
            self.head_m.bias[idx[0] == idx[1]] = 1.0
            self.head_n.bias[D:] = cfg.noise_init_logstd

    # -- encoders (eq. 6-8) ------------------------------------------------------------------
    def encode(self, s: torch.Tensor) -> torch.Tensor:
        """S_dd (B,T,51) -> q (B,T,51), the fused global and local state."""
        t = s.shape[1]
        g = s + self.g_out(self.g_enc(self.g_in(s) + self.g_pos[:, :t]))
        prev, prev2 = self.local_window(s)
        local = s + self.l_enc(torch.cat([prev2, prev, s], -1))
        return self.fuse(torch.cat([g, local], -1))

    def local_window(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """S(t−1) and S(t−2) for every t (eq. 7), the first frame repeated before the start."""
        first = s[:, :1]
        prev2 = torch.cat([first, first, s[:, :-2]], 1)
        if self.config.legacy_local_window:
            return prev2, prev2
        return torch.cat([first, s[:, :-1]], 1), prev2

    # -- Euler-Lagrange terms (eq. 10-16) ----------------------------------------------------
    def terms(self, q_obs: torch.Tensor, q: torch.Tensor, q_prev: torch.Tensor,
              sample_noise: bool) -> dict[str, torch.Tensor]:
        feat = self.trunk(torch.cat([q_obs, q, (q - q_prev)], -1))
        vals = self.head_m(feat)
        if self.config.positive_definite:
            low = lower_from_values(vals)
            minv = low @ low.transpose(-1, -2) + self.config.pd_eps * torch.eye(
                D, device=vals.device, dtype=vals.dtype)
        else:
            minv = symmetric_from_upper(vals)
        mu, logstd = self.head_n(feat).chunk(2, -1)
        if sample_noise:
            std = logstd.exp()[..., None, :] if self.config.noise_std is None \
                else self.config.noise_std
            cols = mu[..., None, :] + std * torch.randn(
                mu.shape[:-1] + (D, D), device=mu.device, dtype=mu.dtype)
            noise = cols.transpose(-1, -2)      # column i is N^[i]
        else:
            noise = mu[..., :, None].expand(mu.shape + (D,))
        j, c = self.head_j(feat), self.head_c(feat)
        acc = ((minv + noise) @ (j - c)[..., None])[..., 0] / (self.config.dt ** 2)
        return {"acc": acc, "minv": minv, "noise": noise}

    def _step(self, acc: torch.Tensor, q: torch.Tensor, q_prev: torch.Tensor) -> torch.Tensor:
        return acc * self.config.dt ** 2 + 2 * q - q_prev                     # eq. 17

    def rollout(self, q_obs: torch.Tensor, sample_noise: bool) -> tuple[torch.Tensor, ...]:
        """One direction. Returns estimates (B,T,51) (frames 0-2 are the seeds), ‖N‖_F (B,T)
        and the minimum eigenvalue of M^-1 (B,T) where evaluated (else NaN)."""
        b, t, _ = q_obs.shape
        noise_fro = q_obs.new_zeros(b, t)
        if self.config.rollout == "teacher":
            q, q_prev = q_obs[:, 2:-1], q_obs[:, 1:-2]
            terms = self.terms(q, q, q_prev, sample_noise)
            pred = self._step(terms["acc"], q, q_prev)
            est = torch.cat([q_obs[:, :3], pred], 1)
            noise_fro[:, 2:-1] = terms["noise"].flatten(-2).norm(dim=-1)
            return est, noise_fro, terms["minv"]
        states = [q_obs[:, 0], q_obs[:, 1], q_obs[:, 2]]
        minvs = []
        fro = [q_obs.new_zeros(b)] * 2
        for k in range(2, t - 1):
            terms = self.terms(q_obs[:, k], states[k], states[k - 1], sample_noise)
            states.append(self._step(terms["acc"], states[k], states[k - 1]))
            fro.append(terms["noise"].flatten(-2).norm(dim=-1))
            minvs.append(terms["minv"])
        fro.append(q_obs.new_zeros(b))
        return torch.stack(states, 1), torch.stack(fro, 1), torch.stack(minvs, 1)

    def forward(self, s_dd: torch.Tensor, sample_noise: bool | None = None
                ) -> dict[str, torch.Tensor]:
        """s_dd (B,T,17,3) -> S_pp (B,T,17,3), the noise norms (B,T) and M^-1 (B,T-3,51,51)."""
        if sample_noise is None:
            sample_noise = self.training
        b, t = s_dd.shape[:2]
        if t < 6:
            raise ValueError(f"PhysNet needs at least 6 frames, got {t}")
        s = s_dd.reshape(b, t, D)
        fwd, fro_f, minv_f = self.rollout(self.encode(s), sample_noise)
        rev = torch.flip(s, [1])
        bwd, fro_b, _ = self.rollout(self.encode(rev), sample_noise)
        bwd, fro_b = torch.flip(bwd, [1]), torch.flip(fro_b, [1])
        q = fwd.clone()
        q[:, 3:t - 3] = 0.5 * (fwd[:, 3:t - 3] + bwd[:, 3:t - 3])
        q[:, t - 3:] = bwd[:, t - 3:]          # the backward seeds
        s_pp = (q + self.decoder(q)).reshape(b, t, 17, 3)
        return {"s_pp": s_pp, "noise_fro": fro_f + fro_b, "minv": minv_f}


def fuse_estimates(s_dd, s_pp):
    """The fusion F of the paper (§3.3): the mean of the data-driven and the physical
    estimates; tensors or arrays."""
    return 0.5 * (s_dd + s_pp)


def project_fused(fused: torch.Tensor, projection: "Projection | None" = None) -> torch.Tensor:
    """P: the fused normalised 3D -> normalised 2D, through the learnt projection when the
    model has one (eq. 20), else the weak-perspective [..., :2]."""
    return projection(fused) if projection is not None else fused[..., :2]


def refine_fuse_project(refiner: nn.Module, projection: "Projection | None", s_dd: torch.Tensor,
                        sample_noise: bool = False) -> dict[str, torch.Tensor]:
    """The physics branch end to end, the one place it is written: S_dd -> S_pp (eq. 6-18),
    the fusion F = (S_dd + S_pp)/2 (§3.3) and its 2D P(F) (eq. 20). Returns the refiner's
    outputs plus `fused` (B,T,17,3) and `xy` (B,T,17,2), all normalised."""
    out = refiner(s_dd, sample_noise=sample_noise)
    fused = fuse_estimates(s_dd, out["s_pp"])
    return {**out, "fused": fused, "xy": project_fused(fused, projection)}


class Projection(nn.Module):
    """P: normalised image-aligned 3D -> normalised 2D; an affine camera starting as [..., :2]
    (weak perspective), learnable for the eq. 20 fine-tuning."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
        self.bias = nn.Parameter(torch.zeros(2))

    def forward(self, pose: torch.Tensor) -> torch.Tensor:
        return pose @ self.weight.T + self.bias


@dataclass
class MLPRefinerConfig:
    hidden: int = 384
    window: int = 2          # frames on each side
    frames: int = 16


class MLPRefiner(SavableMixin, nn.Module):
    """The Table 2 ablation: an MLP over a (2w+1)-frame window of S_dd in place of PhysNet."""

    config_class = MLPRefinerConfig

    def __init__(self, config: MLPRefinerConfig | None = None):
        super().__init__()
        self.config = cfg = config or MLPRefinerConfig()
        k = 2 * cfg.window + 1
        self.net = nn.Sequential(nn.Linear(k * D, cfg.hidden), nn.GELU(),
                                 nn.Linear(cfg.hidden, cfg.hidden), nn.GELU(),
                                 nn.Linear(cfg.hidden, D))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, s_dd: torch.Tensor, sample_noise: bool | None = None
                ) -> dict[str, torch.Tensor]:
        b, t = s_dd.shape[:2]
        w = self.config.window
        s = s_dd.reshape(b, t, D)
        padded = torch.cat([s[:, :1].expand(b, w, D), s, s[:, -1:].expand(b, w, D)], 1)
        win = padded.unfold(1, 2 * w + 1, 1).permute(0, 1, 3, 2).reshape(b, t, -1)
        out = (s + self.net(win)).reshape(b, t, 17, 3)
        return {"s_pp": out, "noise_fro": s.new_zeros(b, t)}


def load_refiner(folder, device: str, expected: str | None = None):
    """A PhysNet or MLPRefiner folder -> (model, its projection P or None). `expected`
    ("PhysNet" or "MLPRefiner") refuses the other kind: an MLP given as PhysNet would be
    written and scored as S_pp."""
    import json
    from pathlib import Path


    kind = json.loads((Path(folder) / "config.json").read_text()).get("model_type")
    cls = {"PhysNet": PhysNet, "MLPRefiner": MLPRefiner}.get(kind)
    if cls is None:
        raise InputError(f"{folder}: not a PhysNet or MLPRefiner model ({kind})")
    if expected is not None and kind != expected:
        raise UsageError(f"{folder}: a {kind} model where a {expected} is expected (physnet "
                         "takes PhysNet as --model and the MLP ablation as --mlp-model)")
    model = cls.from_pretrained(folder, device=device)
    proj = None
    if (Path(folder) / "projection.safetensors").is_file():
        from safetensors.torch import load_file

        proj = Projection().to(device)
        proj.load_state_dict(load_file(str(Path(folder) / "projection.safetensors"),
                                       device=device))
    return model, proj
