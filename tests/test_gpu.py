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


def test_train_physnet_on_cuda_with_the_32_frame_lifter(cuda, tmp_path):
    """train-physnet on CUDA with the shipped lifter (32-frame windows): the model keeps its own
    16-frame windows, the length `physnet` runs it on, and λ_pp reaches the loss."""
    import csv
    import json

    from typer.testing import CliRunner

    from finephys_cli.app import app
    from finephys_cli.models.lifter import InContextLifter
    from finephys_cli.models.registry import shipped_path
    from finephys_cli.stages.synth import SynthConfig, run_synth

    assert InContextLifter.from_pretrained(shipped_path("lifter")).config.frames == 32
    synth = run_synth(SynthConfig(classes="9,25", per_class=1, seed=3), tmp_path / "s.h5",
                      progress="none")
    runs = tmp_path / "runs"
    for lam in (0, 1):
        res = CliRunner().invoke(app, [
            "train-physnet", "--data", str(synth), "--runs", str(runs), "--name", f"pp{lam}",
            "--init", str(shipped_path("physnet")), "--steps", "2", "--batch-size", "8",
            "--device", "cuda", "--progress", "none", "--set", "eval_every=1",
            "--set", "val_fraction=0.5", "--set", f"pp_weight={lam}"])
        assert res.exit_code == 0, res.output
    run = runs / "train-physnet"
    assert json.loads((run / "pp1" / "model-last" / "config.json").read_text())["frames"] == 16
    rows = [list(csv.DictReader(open(run / f"pp{lam}" / "metrics.csv")))[0] for lam in (0, 1)]
    assert float(rows[1]["loss"]) > float(rows[0]["loss"])
    assert float(rows[1]["data"]) == pytest.approx(float(rows[0]["data"]), rel=1e-5)


def test_detect_rotations_on_cuda_match_cpu(cuda):
    """Rotation TTA batched on the GPU (fp16) finds the upside-down mannequin as the CPU does."""
    from finephys_cli.data.classes import class_by_id
    from finephys_cli.data.mannequin import MannequinRenderer
    from finephys_cli.models.detectors import RotationTTA, UltralyticsPose
    from finephys_cli.stages.synth import SynthConfig, make_sample

    sample, (joints, cam, rng) = make_sample(SynthConfig(), class_by_id(9), 0)
    frames = [np.ascontiguousarray(f[::-1, ::-1]) for f in MannequinRenderer(cam, rng)
              .render(joints)[6:11]]
    found = {}
    for dev, half in (("cpu", False), ("cuda", True)):
        tta = RotationTTA(UltralyticsPose(None, device=dev, half=half), (0, 90, 180, 270))
        found[dev] = tta(frames)
    for c, g in zip(found["cpu"], found["cuda"]):
        assert len(c.boxes) == len(g.boxes)
        if len(c.boxes):
            ok = (c.keypoints[0, :, 2] > 0.5) & (g.keypoints[0, :, 2] > 0.5)
            assert np.abs(c.keypoints[0, ok, :2] - g.keypoints[0, ok, :2]).max() < 3.0


@pytest.fixture(scope="module")
def tiny_generator(tmp_path_factory):
    from finephys_cli.generation.components import build_tiny
    from finephys_cli.generation.encoder import HeatmapEncoder, HeatmapEncoderConfig

    root = tmp_path_factory.mktemp("gpu_gen")
    sd, motion = build_tiny(root, words=("salto", "leap"))
    torch.manual_seed(0)
    HeatmapEncoder(HeatmapEncoderConfig(channels=(32, 64), num_res_blocks=1, zero_init=False)
                   ).save_pretrained(root / "enc")
    return root, sd, motion


def test_generate_fp16_cuda_matches_fp32_cpu(cuda, tiny_generator):
    """One guided UNet call agrees across devices and precisions; the fp16 CUDA pipeline runs
    end to end. (Whole sampling runs of a random model are too ill-conditioned to compare.)"""
    from finephys_cli.generation.components import load_components
    from finephys_cli.generation.encoder import HeatmapEncoder
    from finephys_cli.generation.inject import pose_injection
    from finephys_cli.generation.pipeline import FinePhysPipeline, SampleSettings

    root, sd, motion = tiny_generator
    rng = np.random.default_rng(0)
    pose = (rng.uniform(8, 56, (4, 17, 2)), np.ones((4, 17)))
    g = torch.Generator().manual_seed(0)
    x, ehs = torch.randn(1, 4, 4, 8, 8, generator=g), torch.randn(4, 77, 32, generator=g)
    eps = {}
    for dev, dt in (("cpu", torch.float32), ("cuda", torch.float16)):
        pipe = FinePhysPipeline(load_components(sd, motion), HeatmapEncoder.from_pretrained(
            root / "enc"), device=dev, dtype=dt)
        feats = pipe.pose_features([pose], 64)
        with torch.no_grad(), pose_injection(pipe.unet, feats):
            eps[dev] = pipe.unet(x.to(dev, dt), 500, encoder_hidden_states=ehs.to(dev, dt)
                                 ).sample.float().cpu()
        video = pipe(["salto"], [0], SampleSettings(steps=3, frames=4, size=64), poses=[pose])
        assert video.shape == (1, 4, 64, 64, 3)
    scale = eps["cpu"].abs().max()
    torch.testing.assert_close(eps["cuda"] / scale, eps["cpu"] / scale, atol=2e-2, rtol=0)


def test_train_lora_bf16_on_cuda(cuda, tiny_generator, tmp_path):
    from typer.testing import CliRunner

    from finephys_cli.app import app
    from finephys_cli.stages.clips import ClipsConfig, run_prepare_clips
    from finephys_cli.stages.synth import SynthConfig, run_synth

    root, sd, motion = tiny_generator
    synth = run_synth(SynthConfig(classes="6,25", per_class=1), tmp_path / "s.h5",
                      progress="none")
    clips = run_prepare_clips(ClipsConfig(size=64, frames=4, render="parts"), synth,
                              tmp_path / "c.h5", progress="none")
    res = CliRunner().invoke(app, [
        "train-lora", "--clips", str(clips), "--sd15", str(sd), "--motion-adapter", str(motion),
        "--heatmap-encoder", str(root / "enc"), "--runs", str(tmp_path), "--steps", "4",
        "--device", "cuda", "--set", "mixed_precision=bf16", "--set", "rank=4",
        "--set", "val_steps=2", "--set", "spatial_skip=0", "--progress", "none"])
    assert res.exit_code == 0, res.output
    rows = (tmp_path / "train-lora" / "lora" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 2 and "nan" not in rows[1].lower()


def test_train_lora_compiled_with_inductor_matches_eager_on_cuda(cuda, tiny_generator,
                                                                 tmp_path):
    """train-lora --compile on CUDA (Inductor, fp32): the same losses as eager within float
    tolerance; the spatial pass (eager) runs on every step, so the adapter switches happen."""
    import csv

    from typer.testing import CliRunner

    from finephys_cli.app import app
    from finephys_cli.stages.clips import ClipsConfig, run_prepare_clips
    from finephys_cli.stages.synth import SynthConfig, run_synth

    root, sd, motion = tiny_generator
    synth = run_synth(SynthConfig(classes="6,25", per_class=1), tmp_path / "s.h5",
                      progress="none")
    clips = run_prepare_clips(ClipsConfig(size=64, frames=4, render="parts"), synth,
                              tmp_path / "c.h5", progress="none")
    losses = {}
    for name, extra in (("eager", []), ("compiled", ["--compile"])):
        res = CliRunner().invoke(app, [
            "train-lora", "--clips", str(clips), "--sd15", str(sd), "--motion-adapter",
            str(motion), "--heatmap-encoder", str(root / "enc"), "--runs", str(tmp_path / name),
            "--steps", "4", "--device", "cuda", "--set", "rank=4", "--set", "val_steps=1",
            "--set", "eval_every=1", "--set", "spatial_skip=0", "--progress", "none", *extra])
        assert res.exit_code == 0, res.output
        with open(tmp_path / name / "train-lora" / "lora" / "metrics.csv", newline="") as fh:
            losses[name] = [[float(r[k]) for k in ("loss_spat", "loss_temp", "loss_ad")]
                            for r in csv.DictReader(fh)]
    np.testing.assert_allclose(losses["compiled"], losses["eager"], rtol=2e-3)
