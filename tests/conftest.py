"""Shared fixtures: tiny synthetic pose files, a CLI runner, environment hygiene."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")


@pytest.fixture
def runner():
    from typer.testing import CliRunner

    return CliRunner()


def make_pose2d_arrays(t: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    kp = rng.uniform(50, 300, size=(t, 17, 2)).astype(np.float32)
    sc = rng.uniform(0.2, 1.0, size=(t, 17)).astype(np.float32)
    kp[1, 3] = np.nan
    sc[1, 3] = 0.0
    return {"keypoints2d": kp, "scores": sc}


@pytest.fixture
def pose2d_file(tmp_path):
    """A small complete finephys.pose2d file with three videos."""
    from finephys_cli.io.poses_h5 import PoseFileWriter

    path = tmp_path / "poses.h5"
    with PoseFileWriter(path, format="finephys.pose2d", config={"a": 1}, config_hash="abc",
                        command="test") as w:
        for i in range(3):
            arrays = make_pose2d_arrays(seed=i)
            w.write_video(f"vid{i}", {"fps": 25.0, "n_frames": 8, "width": 384, "height": 384,
                                      "label": f"label {i}"}, arrays)
        w.finish()
    return path


@pytest.fixture(scope="session")
def synth_small(tmp_path_factory):
    """Two synthetic clips (a leap and a salto) with mannequin videos."""
    from finephys_cli.stages.synth import SynthConfig, run_synth

    root = tmp_path_factory.mktemp("synth_small")
    path = run_synth(SynthConfig(classes="9,25", per_class=1, seed=11), root / "synth.h5",
                     videos=root / "videos", progress="none")
    return path, root / "videos"


@pytest.fixture(scope="session")
def tiny_pose_models(tmp_path_factory, synth_small):
    """Tiny random lifter / PhysNet / MLP folders, with the bank and prior from synth_small."""
    import torch

    from finephys_cli.data.lift_data import read_pose_file
    from finephys_cli.models.lifter import InContextLifter, LifterConfig
    from finephys_cli.models.physnet import MLPRefiner, MLPRefinerConfig, PhysNet, PhysNetConfig
    from finephys_cli.stages.train_lift import build_bank, windows_of

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("tiny_models")
    lifter = InContextLifter(LifterConfig(dim=16, depth=2, heads=2, merge_idx=1, dim_rep=16,
                                          bank_size=8))
    build_bank(lifter, windows_of(read_pose_file(synth_small[0]), 16, 8), 0)
    lifter.save_pretrained(root / "lifter")
    PhysNet(PhysNetConfig(hidden=32, global_layers=1, heads=2)).save_pretrained(root / "physnet")
    MLPRefiner(MLPRefinerConfig(hidden=32)).save_pretrained(root / "mlp")
    return root


@pytest.fixture(scope="session")
def tiny_i3d(tmp_path_factory):
    """An I3D-shaped TorchScript module with StyleGAN-V's call signature."""
    import torch

    class TinyI3D(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv3d(3, 8, (3, 7, 7), stride=(1, 4, 4))
            self.fc = torch.nn.Linear(8, 24)

        def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False,
                    return_features: bool = False) -> torch.Tensor:
            if rescale:
                x = x / 127.5 - 1
            h = torch.relu(self.conv(x)).mean(dim=(2, 3, 4))
            return self.fc(h)

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("i3d") / "i3d_torchscript.pt"
    torch.jit.script(TinyI3D()).save(str(path))
    return path
