"""GPU checks (run on a CUDA machine: pytest -m gpu): CUDA results equal the CPU path."""

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def cuda():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    return torch.device("cuda")


def test_heatmaps_cuda_equal_cpu(cuda):
    from finephys_cli.generation.heatmaps import render_heatmaps

    rng = np.random.default_rng(0)
    kp = torch.tensor(rng.uniform(0, 384, size=(8, 17, 2)), dtype=torch.float32)
    sc = torch.tensor(rng.uniform(0.2, 1, size=(8, 17)), dtype=torch.float32)
    kp[2, 4] = float("nan")
    cpu = render_heatmaps(kp, sc, (384, 384), channels="both")
    gpu = render_heatmaps(kp.to(cuda), sc.to(cuda), (384, 384), channels="both").cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-4, rtol=0)   # float32 exp rounding


def test_shipped_lift_and_physnet_cuda_equal_cpu(cuda, tmp_path):
    from finephys_cli.data.lift_data import clip_windows, read_pose_file
    from finephys_cli.models.lifter import InContextLifter
    from finephys_cli.models.physnet import PhysNet
    from finephys_cli.models.registry import shipped_path

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    from finephys_cli.stages.synth import SynthConfig, run_synth

    # Real (synthetic) detections: random poses drive the autoregressive rollout far out of
    # its training range, where float32 differences between devices are amplified.
    data = run_synth(SynthConfig(classes="9,20,33", per_class=1), tmp_path / "s.h5",
                     progress="none")
    q = torch.tensor(np.concatenate([clip_windows(c, 16, 8)["query"]
                                     for c in read_pose_file(data)]), dtype=torch.float32)
    outs = {}
    for dev in ("cpu", cuda):
        lifter = InContextLifter.from_pretrained(shipped_path("lifter"), device=str(dev))
        phys = PhysNet.from_pretrained(shipped_path("physnet"), device=str(dev))
        with torch.no_grad():
            dd, idx = lifter.lift(q.to(dev))
            outs[str(dev)] = (dd.cpu(), phys(dd)["s_pp"].cpu(), idx.cpu())
    (dd_c, pp_c, i_c), (dd_g, pp_g, i_g) = outs["cpu"], outs[str(cuda)]
    assert torch.equal(i_c, i_g)
    torch.testing.assert_close(dd_g, dd_c, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(pp_g, pp_c, atol=1e-3, rtol=1e-3)


def test_train_lift_on_cuda_runs(cuda, tmp_path):
    from finephys_cli.configs import load_config
    from finephys_cli.stages.synth import SynthConfig, run_synth
    from finephys_cli.stages.train_lift import TrainLiftConfig, run_train_lift

    data = run_synth(SynthConfig(classes="9,25", per_class=1), tmp_path / "s.h5", progress="none")
    cfg = load_config(TrainLiftConfig, None, ["model.dim=16", "model.heads=2"],
                      data=(str(data),), steps=4, batch_size=8, eval_every=2)
    run = run_train_lift(cfg, tmp_path / "runs", device="cuda", progress="none")
    assert (run / "model-best" / "model.safetensors").exists()
