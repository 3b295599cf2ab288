"""The skeletal heatmap encoder (T2I-Adapter / Follow-Your-Pose style, multi-scale).

diffusers' `T2IAdapter` turns each frame's full-size limb heatmaps into one feature map per UNet
level. With `multiscale`, heatmaps rendered at each level's own resolution are added through a
3x3 conv (the paper's multi-scale guidance). Each level ends in a zero-initialised 1x1 conv, so an
untrained encoder leaves the UNet exactly as plain AnimateDiff.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..models.common import SavableMixin


@dataclass
class HeatmapEncoderConfig:
    in_channels: int = 16
    channels: tuple[int, ...] = (320, 640, 1280, 1280)
    num_res_blocks: int = 2
    downscale_factor: int = 8
    multiscale: bool = True
    zero_init: bool = True


class HeatmapEncoder(SavableMixin, nn.Module):
    config_class = HeatmapEncoderConfig

    def __init__(self, config: HeatmapEncoderConfig | None = None):
        super().__init__()
        from diffusers import T2IAdapter

        self.config = cfg = config or HeatmapEncoderConfig()
        self.adapter = T2IAdapter(in_channels=cfg.in_channels, channels=list(cfg.channels),
                                  num_res_blocks=cfg.num_res_blocks,
                                  downscale_factor=cfg.downscale_factor,
                                  adapter_type="full_adapter")
        self.level_in = nn.ModuleList(nn.Conv2d(cfg.in_channels, c, 3, padding=1)
                                      for c in cfg.channels) if cfg.multiscale else None
        self.out = nn.ModuleList(nn.Conv2d(c, c, 1) for c in cfg.channels)
        if cfg.zero_init:
            for conv in self.out:
                nn.init.zeros_(conv.weight)
                nn.init.zeros_(conv.bias)

    def forward(self, heatmaps: torch.Tensor,
                levels: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
        """heatmaps (N,C,H,W) at pixel size; levels[i] (N,C,h_i,w_i) at level i's size.
        Returns one (N, channels[i], h_i, w_i) feature per UNet down block."""
        feats = self.adapter(heatmaps)
        out = []
        for i, f in enumerate(feats):
            if self.level_in is not None and levels is not None:
                f = f + self.level_in[i](levels[i].to(f.dtype))
            out.append(self.out[i](f))
        return out
