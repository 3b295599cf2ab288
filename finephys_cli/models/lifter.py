"""In-context 2D→3D lifter (eq. 4-5): a dual-stream spatial/temporal transformer (DSTformer
style) used as Skeleton-in-Context "static": the query's target half is the mean 3D prior.

Tokens are (frame, joint). Prompt = [P_2D ; P_3D] and query = [S_2D ; mean prior] are each 2F
frames long; both go through the first `merge_idx` layers side by side (temporal attention over
all 2F frames), are averaged, and continue as one stream. The head reads frames F..2F, and its
output is a residual on (S_2D xy, 0) + the mean prior (the prior's xy and depth both), so a
zero head gives the query's 2D offset by the prior. The v0.1 form (`prompt_shortcut`) added
P_3D − P_2D + S_2D instead ("query 2D plus the prompt's depth"), which is in neither the paper
nor Skeleton-in-Context.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .common import SavableMixin


@dataclass
class LifterConfig:
    # Sized for >= 50 clips/s on 2 CPU cores with PhysNet (Skeleton-in-Context uses 256/5/8).
    dim: int = 64
    depth: int = 3
    heads: int = 4
    mlp_ratio: float = 2.0
    frames: int = 16
    merge_idx: int = 1
    dim_rep: int = 64
    dropout: float = 0.0
    use_prompt: bool = True
    bank_size: int = 256
    # v0.1 only: S_dd = out + prompt_3d − prompt_xy + query_xy, which ties the query's depth to
    # the prompt's; neither the paper nor Skeleton-in-Context has it.
    prompt_shortcut: bool = False


def _attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Softmax attention. On CPU as two batched matmuls: for these many tiny sequences (17
    joints, 16-32 frames, head dim 16) that is 1.1-2.2x faster than CPU SDPA kernels
    (benchmarks/results/pose_throughput_cpu.json); elsewhere SDPA (flash / memory-efficient)."""
    if q.device.type != "cpu" or torch.is_grad_enabled():
        return nn.functional.scaled_dot_product_attention(q, k, v)
    shape = q.shape
    q, k, v = (t.reshape(-1, *t.shape[-2:]) for t in (q, k, v))
    weights = torch.bmm(q, k.transpose(1, 2)).mul_(shape[-1] ** -0.5).softmax(-1)
    return torch.bmm(weights, v).reshape(shape)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, mode: str):
        super().__init__()
        self.heads, self.mode = heads, mode
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, first_query: int = 0) -> torch.Tensor:
        """x (B,T,17,C) -> (B,T−first_query,17,C): only frames from `first_query` on are
        queried (temporal mode: every frame still serves as key and value)."""
        b, t, j, c = x.shape
        h, d = self.heads, c // self.heads
        if self.mode == "s":        # attend over joints within a frame
            seq = x[:, first_query:].reshape(-1, j, c)
            q, k, v = self.qkv(seq).reshape(seq.shape[0], j, 3, h, d).permute(2, 0, 3, 1, 4)
            out = self.proj(_attention(q, k, v).transpose(1, 2).reshape(seq.shape))
            return out.reshape(b, t - first_query, j, c)
        seq = x.transpose(1, 2).reshape(b * j, t, c)   # attend over frames per joint
        q, k, v = self.qkv(seq).reshape(b * j, t, 3, h, d).permute(2, 0, 3, 1, 4)
        tq = t - first_query
        out = self.proj(_attention(q[:, :, first_query:], k, v).transpose(1, 2).reshape(
            b * j, tq, c))
        return out.reshape(b, j, tq, c).transpose(1, 2)


class Block(nn.Module):
    """Pre-norm: attention then MLP, for the spatial then temporal order or the reverse."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, order: str, dropout: float):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.stages = nn.ModuleList()
        for mode in order:
            self.stages.append(nn.ModuleDict({
                "n1": nn.LayerNorm(dim), "attn": Attention(dim, heads, mode), "n2": nn.LayerNorm(dim),
                "mlp": nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout),
                                     nn.Linear(hidden, dim)),
            }))

    def forward(self, x: torch.Tensor, keep_from: int = 0) -> torch.Tensor:
        """Returns frames from `keep_from` on. Frames before it are dropped as soon as no
        temporal stage is left to read them: the result equals the full output's frames."""
        modes = [st["attn"].mode for st in self.stages]
        for i, st in enumerate(self.stages):
            cut = 0 if "t" in modes[i + 1:] else keep_from
            x = x[:, cut:] + st["attn"](st["n1"](x), cut)
            x = x + st["mlp"](st["n2"](x))
            keep_from -= cut
        return x


class DualStreamLayer(nn.Module):
    """An S→T block and a T→S block on the same input, fused by learned per-token weights."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float):
        super().__init__()
        self.st = Block(dim, heads, mlp_ratio, "st", dropout)
        self.ts = Block(dim, heads, mlp_ratio, "ts", dropout)
        self.fuse = nn.Linear(2 * dim, 2)
        nn.init.zeros_(self.fuse.weight)
        nn.init.constant_(self.fuse.bias, 0.5)   # starts as the plain mean

    def forward(self, x: torch.Tensor, keep_from: int = 0) -> torch.Tensor:
        a, b = self.st(x, keep_from), self.ts(x, keep_from)
        w = self.fuse(torch.cat([a, b], -1)).softmax(-1)
        return w[..., :1] * a + w[..., 1:] * b


class InContextLifter(SavableMixin, nn.Module):
    config_class = LifterConfig
    legacy_defaults = {"prompt_shortcut": True}

    def __init__(self, config: LifterConfig | None = None):
        super().__init__()
        self.config = cfg = config or LifterConfig()
        self.embed = nn.Linear(3, cfg.dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, 1, 17, cfg.dim))
        self.temp_embed = nn.Parameter(torch.zeros(1, 2 * cfg.frames, 1, cfg.dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.temp_embed, std=0.02)
        self.layers = nn.ModuleList(DualStreamLayer(cfg.dim, cfg.heads, cfg.mlp_ratio, cfg.dropout)
                                    for _ in range(cfg.depth))
        self.head = nn.Sequential(nn.LayerNorm(cfg.dim), nn.Linear(cfg.dim, cfg.dim_rep),
                                  nn.Tanh(), nn.Linear(cfg.dim_rep, 3))
        # The eq. 4 mean 3D prior and the prompt bank live in the checkpoint.
        self.register_buffer("mean_prior", torch.zeros(cfg.frames, 17, 3))
        self.register_buffer("bank_2d", torch.zeros(cfg.bank_size, cfg.frames, 17, 3))
        self.register_buffer("bank_3d", torch.zeros(cfg.bank_size, cfg.frames, 17, 3))

    def _encode(self, seq: torch.Tensor) -> torch.Tensor:
        t = seq.shape[1]
        return self.embed(seq) + self.pos_embed + self.temp_embed[:, :t]

    def forward(self, query_2d: torch.Tensor, prompt_2d: torch.Tensor | None = None,
                prompt_3d: torch.Tensor | None = None) -> torch.Tensor:
        """query_2d (B,F,17,3) = normalised (x, y, score); prompt_2d (B,F,17,3) = (x, y, 1);
        prompt_3d (B,F,17,3). Returns S_dd (B,F,17,3), normalised image-aligned."""
        b, f = query_2d.shape[:2]
        prior = self.mean_prior[:f].expand(b, f, 17, 3)
        query = self._encode(torch.cat([query_2d, prior], 1))
        use_prompt = self.config.use_prompt and prompt_2d is not None
        if use_prompt:
            prompt = self._encode(torch.cat([prompt_2d, prompt_3d], 1))
            x = torch.cat([prompt, query], 0)
        else:
            x = query
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            if use_prompt and i == self.config.merge_idx:
                x = 0.5 * (x[:b] + x[b:])
            # Only frames F..2F are read, so the last layer computes those alone (1.12x on CPU).
            x = layer(x, f if i == last else 0)
        if use_prompt and self.config.merge_idx >= len(self.layers):
            x = 0.5 * (x[:b] + x[b:])
        out = self.head(x[:, x.shape[1] - f:])
        xy0 = torch.cat([query_2d[..., :2], torch.zeros_like(query_2d[..., :1])], -1)
        if use_prompt and self.config.prompt_shortcut:
            pxy0 = torch.cat([prompt_2d[..., :2], torch.zeros_like(prompt_2d[..., :1])], -1)
            return out + prompt_3d - pxy0 + xy0
        return out + xy0 + prior

    @torch.no_grad()
    def choose_prompts(self, query_2d: torch.Tensor, mode: str = "nearest",
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """Deterministic prompt indices into the bank: nearest normalised 2D, or seeded random."""
        filled = int((self.bank_2d.abs().sum(dim=(1, 2, 3)) > 0).sum())
        if filled == 0:
            return torch.zeros(query_2d.shape[0], dtype=torch.long, device=query_2d.device)
        bank = self.bank_2d[:filled, :, :, :2]
        if mode == "random":
            return torch.randint(filled, (query_2d.shape[0],), generator=generator).to(
                query_2d.device)
        f = query_2d.shape[1]
        conf = query_2d[..., 2:3]
        diff = (query_2d[:, None, :, :, :2] - bank[None, :, :f]) * conf[:, None]
        return diff.pow(2).sum(dim=(2, 3, 4)).argmin(1)

    def lift(self, query_2d: torch.Tensor, prompt_mode: str = "nearest",
             indices: torch.Tensor | None = None, flip_average: bool = False
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """Lift with prompts from the stored bank (`indices`, or chosen by `prompt_mode`);
        returns (S_dd, prompt indices). `flip_average` also lifts the mirrored query (with its
        mirrored prompt) and averages it, mirrored back, with the direct lift: the test-time
        flip of VideoPose3D and MotionBERT. Training's flip augmentation mirrors the query and
        the target but not the prompt; the shipped lifter has no prompt, so there they agree."""
        if not self.config.use_prompt:        # no retrieval to pay for: index 0 is unused
            idx = torch.zeros(query_2d.shape[0], dtype=torch.long, device=query_2d.device)
            prompts: tuple = ()
        else:
            idx = self.choose_prompts(query_2d, prompt_mode) if indices is None else indices
            f = query_2d.shape[1]
            prompts = (self.bank_2d[idx, :f], self.bank_3d[idx, :f])
        out = self(query_2d, *prompts)
        if flip_average:
            mirrored = self(flip_normalised(query_2d), *map(flip_normalised, prompts))
            out = (out + flip_normalised(mirrored)) / 2
        return out, idx


def flip_normalised(x: torch.Tensor) -> torch.Tensor:
    """Mirror (..., 17, C) normalised poses: swap left and right joints and negate x."""
    from ..skeleton import H36M_FLIP_PERM

    out = x[..., list(H36M_FLIP_PERM), :].clone()
    out[..., 0] = -out[..., 0]
    return out
