"""prepare-clips and the generator training steps on tiny random components (CPU, seconds)."""

import json

import numpy as np
import pytest
import torch


@pytest.fixture(scope="module")
def tiny_gen(tmp_path_factory):
    from finephys_cli.generation.components import build_tiny
    from finephys_cli.generation.encoder import HeatmapEncoder, HeatmapEncoderConfig

    root = tmp_path_factory.mktemp("tiny_gen_train")
    sd, motion = build_tiny(root, words=("salto", "leap", "turn"))
    torch.manual_seed(0)
    enc = HeatmapEncoder(HeatmapEncoderConfig(channels=(32, 64), num_res_blocks=1,
                                              zero_init=False))
    enc.save_pretrained(root / "enc")
    return root, sd, motion


@pytest.fixture(scope="module")
def tiny_clips(synth_small, tmp_path_factory):
    from finephys_cli.stages.clips import ClipsConfig, run_prepare_clips

    out = tmp_path_factory.mktemp("clips") / "clips.h5"
    return run_prepare_clips(ClipsConfig(size=64, frames=4), synth_small[0], out,
                             progress="none")


def test_prepare_clips_crops_frames_and_skeleton(tiny_clips, synth_small):
    from finephys_cli.io.poses_h5 import PoseFile
    from finephys_cli.stages.clips import load_clips

    data = load_clips([tiny_clips])
    assert data.frames.shape == (2, 4, 64, 64, 3) and data.frames.dtype == np.uint8
    assert data.keypoints.shape == (2, 4, 17, 2)
    # The crop is padded around every joint: all joints land inside the 64² crop.
    assert (data.keypoints > 0).all() and (data.keypoints < 64).all()
    with PoseFile(synth_small[0]) as pf:
        labels = [pf.video_attrs(v)["label"] for v in pf.video_ids]
    for label, prompt in zip(labels, data.prompts):   # the label, extended
        assert prompt.startswith(label + ". A gymnast")
    # The mannequin is where the skeleton says: the pelvis pixel differs from the corners.
    f, kp = data.frames[0, 0].astype(int), data.keypoints[0, 0]
    pelvis = f[int(kp[0, 1]), int(kp[0, 0])]
    assert np.abs(pelvis - f[1, 1]).sum() > 30


def test_prepare_clips_from_coco_json(tmp_path, runner):
    from PIL import Image

    from finephys_cli.app import app
    from finephys_cli.stages.clips import load_clips

    img = np.zeros((120, 100, 3), np.uint8)
    img[30:90, 40:60] = 200
    (tmp_path / "imgs").mkdir()
    Image.fromarray(img).save(tmp_path / "imgs" / "a.png")
    rng = np.random.default_rng(0)
    kp = np.concatenate([rng.uniform([40, 30], [60, 90], (17, 2)), np.full((17, 1), 2)], 1)
    ann = {"images": [{"id": 1, "file_name": "a.png", "description": "a dancer leaps"}],
           "annotations": [{"id": 7, "image_id": 1, "num_keypoints": 17,
                            "keypoints": kp.ravel().tolist()},
                           {"id": 8, "image_id": 1, "num_keypoints": 2,
                            "keypoints": kp.ravel().tolist()}]}
    (tmp_path / "ann.json").write_text(json.dumps(ann))
    res = runner.invoke(app, ["prepare-clips", str(tmp_path / "ann.json"), "--images",
                              str(tmp_path / "imgs"), "--size", "32", "-o",
                              str(tmp_path / "c.h5")])
    assert res.exit_code == 0, res.output
    data = load_clips([tmp_path / "c.h5"])
    assert data.frames.shape == (1, 1, 32, 32, 3)          # the 2-keypoint person is skipped
    assert data.prompts == ["a dancer leaps"] and data.ids == ["coco_7"]


def _context(tiny_gen, clips, tmp_path, mode="lora", physnet=None):
    from accelerate import Accelerator

    from finephys_cli.generation.components import load_components
    from finephys_cli.generation.encoder import HeatmapEncoder
    from finephys_cli.generation.lora import add_loras
    from finephys_cli.stages.clips import load_clips
    from finephys_cli.generation.training import (GeneratorParts, StepContext, cache_latents,
                                                  text_embeddings)
    from finephys_cli.stages.train_generator import TrainGeneratorConfig

    root, sd, motion = tiny_gen
    comps = load_components(sd, motion)
    enc = HeatmapEncoder.from_pretrained(root / "enc").train()
    parts = GeneratorParts(comps, enc)
    if physnet is not None:
        from finephys_cli.stages.physnet import load_refiner

        parts.physnet, parts.projection = load_refiner(physnet, "cpu")
        parts.physnet.train()
    data = load_clips([clips])
    comps.unet.requires_grad_(False)
    if mode == "lora":
        add_loras(comps.unet, rank=4, dropout=0.0)
    acc = Accelerator(cpu=True)
    texts, null = text_embeddings(comps, data.prompts, "cpu")
    lat = cache_latents(comps.vae, data.frames, "cpu", tmp_path / "lat.pt", 0)
    cfg = TrainGeneratorConfig(mode=mode, null_text=0.0)
    return StepContext(acc, comps.unet, enc, parts, data, cfg, texts, null, lat, [8, 4])


def _grads(module, word):
    return [p.grad for n, p in module.named_parameters() if "lora_" in n and f".{word}." in n]


def test_spatial_pass_moves_only_spatial_lora_and_temporal_only_temporal(tiny_gen, tiny_clips,
                                                                        tmp_path):
    from finephys_cli.generation.lora import lora_mode

    ctx = _context(tiny_gen, tiny_clips, tmp_path)
    b = ctx.batch(np.array([0]), torch.Generator().manual_seed(0))
    lora_mode(ctx.unet, "spatial")
    ctx.spatial_loss(b, frame=1).backward()
    assert any(g is not None and g.abs().sum() > 0 for g in _grads(ctx.unet, "spatial"))
    assert all(g is None for g in _grads(ctx.unet, "temporal"))
    assert ctx.encoder.out[0].weight.grad.abs().sum() > 0
    ctx.unet.zero_grad(set_to_none=True)
    lora_mode(ctx.unet, "temporal")
    l_temp, l_ad, l2d = ctx.temporal_losses(b, anchor=0)
    assert l2d is None
    (l_temp + l_ad).backward()
    assert any(g is not None and g.abs().sum() > 0 for g in _grads(ctx.unet, "temporal"))
    assert all(g is None for g in _grads(ctx.unet, "spatial"))


def test_gradients_reach_physnet_through_the_heatmaps(tiny_gen, synth_small, tiny_pose_models,
                                                      tmp_path):
    from finephys_cli.stages.clips import ClipsConfig, run_prepare_clips
    from finephys_cli.stages.lift import LiftConfig, run_lift
    from finephys_cli.stages.physnet import RefineConfig, run_physnet

    lifted = run_lift(LiftConfig(model=str(tiny_pose_models / "lifter")), synth_small[0],
                      tmp_path / "p3d.h5", progress="none")
    phys = run_physnet(RefineConfig(model=str(tiny_pose_models / "physnet")), lifted,
                       tmp_path / "phys.h5", progress="none")
    clips = run_prepare_clips(ClipsConfig(size=64, frames=8, pose_source="fused"), phys,
                              tmp_path / "clips.h5", progress="none")
    ctx = _context(tiny_gen, clips, tmp_path, mode="unet",
                   physnet=tiny_pose_models / "physnet")
    b = ctx.batch(np.array([1]), torch.Generator().manual_seed(0))
    l_temp, l_ad, l2d = ctx.temporal_losses(b, anchor=2)
    assert l2d is not None and torch.isfinite(l2d)
    l_temp.backward()      # the generator loss alone, not L_2D, must reach PhysNet
    grads = [p.grad for p in ctx.parts.physnet.parameters() if p.grad is not None]
    assert grads and sum(float(g.abs().sum()) for g in grads) > 0


def test_train_lora_cli_resumes_lowers_val_loss_and_exports(tiny_gen, tiny_clips, tmp_path,
                                                           runner):
    from diffusers import AnimateDiffPipeline
    from safetensors.torch import load_file

    from finephys_cli.app import app
    from finephys_cli.generation.components import load_components
    from finephys_cli.generation.lora import load_loras

    root, sd, motion = tiny_gen
    base = ["train-lora", "--clips", str(tiny_clips), "--sd15", str(sd), "--motion-adapter",
            str(motion), "--heatmap-encoder", str(root / "enc"), "--runs", str(tmp_path),
            "--progress", "none", "--set", "rank=4", "--set", "val_steps=2",
            "--set", "spatial_skip=1.0", "--set", "lr=0.003", "--batch-size", "2"]
    res = runner.invoke(app, base + ["--steps", "1", "--set", "eval_every=1"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, base + ["--steps", "25", "--set", "eval_every=8", "--resume", "auto"])
    assert res.exit_code == 0, res.output
    run = tmp_path / "train-lora" / "lora"
    rows = (run / "metrics.csv").read_text().splitlines()
    head = rows[0].split(",")
    vals = [float(r.split(",")[head.index("val_loss")]) for r in rows[1:]]
    steps = [int(r.split(",")[0]) for r in rows[1:]]
    assert steps == [1, 8, 16, 24, 25]
    assert vals[-1] < vals[0]
    assert (run / "val" / "step-00000025.mp4").is_file()
    lora = run / "model-last" / "lora"
    spatial = load_file(str(lora / "spatial" / "pytorch_lora_weights.safetensors"))
    temporal = load_file(str(lora / "temporal" / "pytorch_lora_weights.safetensors"))
    # spatial_skip=1: the spatial LoRA never stepped (its B stays at peft's zero init, and
    # weight decay did not touch it), while the temporal one learned.
    assert all(float(v.abs().sum()) == 0 for k, v in spatial.items() if "lora_B" in k)
    assert any(float(v.abs().sum()) > 0 for k, v in temporal.items() if "lora_B" in k)
    c = load_components(sd, motion)
    pipe = AnimateDiffPipeline(vae=c.vae, text_encoder=c.text_encoder, tokenizer=c.tokenizer,
                               unet=c.unet, motion_adapter=None, scheduler=c.sample_scheduler)
    assert load_loras(pipe, lora) == ["spatial", "temporal"]
    out = tmp_path / "gen"
    res = runner.invoke(app, [
        "generate", "--prompt", "salto", "--class", "25", "--sd15", str(sd), "--motion-adapter",
        str(motion), "--heatmap-encoder", str(run / "model-last" / "heatmap_encoder"),
        "--lora", str(lora), "--size", "64", "--frames", "4", "--steps", "2", "-o", str(out),
        "--progress", "none"])
    assert res.exit_code == 0, res.output


def test_train_heatmap_encoder_moves_only_the_encoder(tiny_gen, tiny_clips, tmp_path, runner):
    from safetensors.torch import load_file

    from finephys_cli.app import app

    root, sd, motion = tiny_gen
    res = runner.invoke(app, ["train-heatmap-encoder", "--clips", str(tiny_clips), "--sd15",
                              str(sd), "--motion-adapter", str(motion), "--heatmap-encoder",
                              str(root / "enc"), "--runs", str(tmp_path), "--steps", "2",
                              "--progress", "none", "--set", "val_steps=1"])
    assert res.exit_code == 0, res.output
    before = load_file(str(root / "enc" / "model.safetensors"))
    after = load_file(str(tmp_path / "train-heatmap-encoder" / "encoder" / "model-last"
                          / "heatmap_encoder" / "model.safetensors"))
    assert any(not torch.equal(before[k], after[k]) for k in before)
    exported = sorted(p.name for p in (tmp_path / "train-heatmap-encoder" / "encoder"
                                       / "model-last").iterdir())
    assert exported == ["finephys_generator.json", "heatmap_encoder"]   # no UNet, no LoRA


def test_two_stages_with_different_precision_in_one_process(tiny_gen, tiny_clips, tmp_path,
                                                            runner):
    """Regression: accelerate's global state refused a second mixed_precision in one process."""
    from finephys_cli.app import app

    res = runner.invoke(app, ["train-autoencoder", "--clips", str(tiny_clips), "--runs",
                              str(tmp_path), "--steps", "1", "--batch-size", "2",
                              "--progress", "none", "--set", "channels=[8,8,8,8]"])
    assert res.exit_code == 0, res.output
    root, sd, motion = tiny_gen
    res = runner.invoke(app, ["train-heatmap-encoder", "--clips", str(tiny_clips), "--sd15",
                              str(sd), "--motion-adapter", str(motion), "--runs", str(tmp_path),
                              "--steps", "1", "--progress", "none", "--set", "val_steps=1",
                              "--set", "mixed_precision=bf16"])
    assert res.exit_code == 0, res.output


def test_prerendered_heatmaps_equal_rendering(tiny_gen, tiny_clips, tmp_path):
    from finephys_cli.generation.training import prerender_heatmaps

    ctx = _context(tiny_gen, tiny_clips, tmp_path)
    b = ctx.batch(np.array([1, 0]), torch.Generator().manual_seed(0))
    kp = torch.as_tensor(ctx.data.keypoints[b.idx], dtype=torch.float32)
    with torch.no_grad():
        direct = ctx.features(b, kp, slice(1, 3))
        ctx.maps = prerender_heatmaps(ctx.data, ctx.size, ctx.levels, "cpu")
        cached = ctx.features(b, kp, slice(1, 3))
    for d, c in zip(direct, cached):
        torch.testing.assert_close(c, d, atol=2e-3, rtol=1e-2)   # fp16 storage


def test_prepare_clips_from_a_folder_of_frames(synth_small, tmp_path):
    """Frames as image files (one folder per video) work like the video itself."""
    from PIL import Image

    from finephys_cli.io.video import read_frames
    from finephys_cli.stages.clips import ClipsConfig, load_clips, run_prepare_clips

    path, videos = synth_small
    for mp4 in videos.glob("*.mp4"):
        frames, _ = read_frames(mp4)
        (tmp_path / "frames" / mp4.stem).mkdir(parents=True)
        for i, f in enumerate(frames):
            Image.fromarray(f).save(tmp_path / "frames" / mp4.stem / f"{i:05d}.png")
    a = load_clips([run_prepare_clips(ClipsConfig(size=64, frames=4), path, tmp_path / "a.h5",
                                      progress="none")])
    b = load_clips([run_prepare_clips(ClipsConfig(size=64, frames=4), path, tmp_path / "b.h5",
                                      videos=tmp_path / "frames", progress="none")])
    assert a.ids == b.ids
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.keypoints, b.keypoints)


def test_pose_dropout_zeroes_the_features_of_dropped_samples_only(tiny_gen, tiny_clips,
                                                                  tmp_path):
    ctx = _context(tiny_gen, tiny_clips, tmp_path)
    plain = ctx.batch(np.array([0, 1]), torch.Generator().manual_seed(3))
    assert plain.pose_keep is None
    ctx.cfg.pose_dropout = 0.5
    b = ctx.batch(np.array([0, 1]), torch.Generator().manual_seed(3))
    # The dropout draw comes last: everything else in the batch is the same stream.
    assert torch.equal(b.noise, plain.noise) and torch.equal(b.t, plain.t)
    b.pose_keep = torch.tensor([1.0, 0.0])
    kp = torch.as_tensor(ctx.data.keypoints[b.idx], dtype=torch.float32)
    with torch.no_grad():
        feats = ctx.features(b, kp, slice(None))
        full = ctx.features(plain, kp, slice(None))
    frames = ctx.data.keypoints.shape[1]
    for f, ref in zip(feats, full):
        assert torch.equal(f[:frames], ref[:frames])           # kept: untouched
        assert float(f[frames:].abs().max()) == 0.0 and float(ref[frames:].abs().max()) > 0


def test_ema_and_lr_schedule_resume_and_the_export_holds_the_average(tiny_gen, tiny_clips,
                                                                     tmp_path, runner):
    from safetensors.torch import load_file

    from finephys_cli.app import app

    root, sd, motion = tiny_gen
    base = ["train-heatmap-encoder", "--clips", str(tiny_clips), "--sd15", str(sd),
            "--motion-adapter", str(motion), "--heatmap-encoder", str(root / "enc"),
            "--runs", str(tmp_path), "--progress", "none", "--set", "val_steps=1",
            "--set", "eval_every=2", "--set", "ema_decay=0.9", "--set", "lr_schedule=cosine",
            "--set", "warmup_steps=2", "--set", "pose_dropout=0.2", "--set", "lr=0.01"]
    assert runner.invoke(app, base + ["--steps", "2"]).exit_code == 0
    res = runner.invoke(app, base + ["--steps", "4", "--resume", "auto"])
    assert res.exit_code == 0, res.output
    run = tmp_path / "train-heatmap-encoder" / "encoder"
    rows = (run / "metrics.csv").read_text().splitlines()
    head = rows[0].split(",")
    lrs = [float(r.split(",")[head.index("lr")]) for r in rows[1:]]
    # warm-up to 0.01 at step 2, then a cosine to 0 at step 4: the resumed run continued it.
    assert lrs == pytest.approx([0.01, 0.0], abs=1e-9)
    exported = load_file(str(run / "model-last" / "heatmap_encoder" / "model.safetensors"))
    from accelerate.utils import SAFE_WEIGHTS_NAME

    trained = load_file(str(run / "checkpoints" / "last" / SAFE_WEIGHTS_NAME.replace(
        ".safetensors", "_1.safetensors")))
    start = load_file(str(root / "enc" / "model.safetensors"))
    moved = [k for k in exported if not torch.equal(start[k], trained[k])]
    assert moved and all(not torch.equal(exported[k], trained[k]) for k in moved)


def test_bad_schedule_and_dropout_are_usage_errors(tiny_gen, tiny_clips, tmp_path, runner):
    from finephys_cli.app import app

    root, sd, motion = tiny_gen
    for bad in ("lr_schedule=step", "pose_dropout=1.5", "ema_decay=1"):
        res = runner.invoke(app, ["train-heatmap-encoder", "--clips", str(tiny_clips), "--sd15",
                                  str(sd), "--motion-adapter", str(motion), "--runs",
                                  str(tmp_path), "--steps", "1", "--progress", "none",
                                  "--set", bad])
        assert res.exit_code == 2, (bad, res.output)


def test_train_lora_compiled_step_matches_eager(tiny_gen, tiny_clips, tmp_path, runner):
    """--compile goes through torch.compile (the eager backend here; inductor on the GPU) and
    the pose features through a PoseSlot: the same losses and LoRA weights as the eager run,
    with the same file and parameter names. Regression: with the spatial pass compiled too,
    the adapter switches between the passes gave a wrong loss from the third step on."""
    from safetensors.torch import load_file

    from finephys_cli.app import app

    root, sd, motion = tiny_gen
    base = ["train-lora", "--clips", str(tiny_clips), "--sd15", str(sd), "--motion-adapter",
            str(motion), "--heatmap-encoder", str(root / "enc"), "--progress", "none",
            "--set", "rank=4", "--set", "val_steps=1", "--set", "eval_every=1",
            "--set", "spatial_skip=0.0", "--batch-size", "2", "--steps", "3"]
    res = runner.invoke(app, base + ["--runs", str(tmp_path / "eager")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, base + ["--runs", str(tmp_path / "compiled"), "--compile",
                                     "--set", "compile_backend=eager"])
    assert res.exit_code == 0, res.output

    def run(name):
        folder = tmp_path / name / "train-lora" / "lora"
        rows = (folder / "metrics.csv").read_text().splitlines()
        head = rows[0].split(",")
        losses = [float(r.split(",")[head.index(k)]) for r in rows[1:]
                  for k in ("loss_temp", "loss_ad", "val_loss")]
        weights = load_file(str(folder / "model-last" / "lora" / "temporal" /
                                "pytorch_lora_weights.safetensors"))
        return losses, weights

    (l_eager, w_eager), (l_comp, w_comp) = run("eager"), run("compiled")
    assert len(l_eager) == 9
    np.testing.assert_allclose(l_comp, l_eager, rtol=1e-5)
    assert sorted(w_comp) == sorted(w_eager)
    for k in w_eager:
        torch.testing.assert_close(w_comp[k], w_eager[k], rtol=1e-4, atol=1e-6)
    assert any(float(v.abs().sum()) > 0 for k, v in w_comp.items() if "lora_B" in k)


def test_decoder_fine_tune_keeps_the_encoder_and_weighs_the_foreground(tiny_clips, tmp_path,
                                                                        runner):
    from safetensors.torch import load_file

    from finephys_cli.app import app

    base = ["train-autoencoder", "--clips", str(tiny_clips), "--runs", str(tmp_path),
            "--steps", "2", "--batch-size", "2", "--progress", "none",
            "--set", "channels=[8,8,8,8]", "--set", "eval_every=2"]
    res = runner.invoke(app, base + ["--name", "first"])
    assert res.exit_code == 0, res.output
    first = tmp_path / "train-autoencoder" / "first" / "model-last" / "vae"
    res = runner.invoke(app, base + ["--name", "dec", "--set", f"init_from={first.parent}",
                                     "--set", "train_encoder=false",
                                     "--set", "foreground_weight=20", "--set", "lr=1e-2"])
    assert res.exit_code == 0, res.output
    run = tmp_path / "train-autoencoder" / "dec"
    a = load_file(str(first / "diffusion_pytorch_model.safetensors"))
    b = load_file(str(run / "model-last" / "vae" / "diffusion_pytorch_model.safetensors"))
    kept = [k for k in a if k.startswith(("encoder.", "quant_conv."))]
    moved = [k for k in a if k.startswith(("decoder.", "post_quant_conv."))]
    assert kept and all(torch.equal(a[k], b[k]) for k in kept)
    assert any(not torch.equal(a[k], b[k]) for k in moved)
    header = (run / "metrics.csv").read_text().splitlines()[0]
    assert "val_psnr_fg" in header
    # A decoder-only run needs the autoencoder whose latent space it keeps.
    res = runner.invoke(app, base + ["--name", "bad", "--set", "train_encoder=false"])
    assert res.exit_code == 2 and "init_from" in res.output
    res = runner.invoke(app, base + ["--name", "bad2", "--set", f"init_from={tmp_path}/none"])
    assert res.exit_code == 1 and "AutoencoderKL" in res.output
    assert not (tmp_path / "train-autoencoder" / "bad2").exists()   # checked before writing
    res = runner.invoke(app, base + ["--name", "bad3", "--set", "foreground_weight=-2"])
    assert res.exit_code == 2 and "foreground_weight" in res.output


def test_foreground_weight_counts_the_performer_cells_more(tiny_gen, tiny_clips, tmp_path):
    from finephys_cli.data.foreground import foreground_masks, latent_masks

    ctx = _context(tiny_gen, tiny_clips, tmp_path, mode="unet")
    g = torch.Generator().manual_seed(4)
    plain = ctx.batch(np.array([0, 1]), g)
    assert plain.weight is None
    factor = ctx.data.frames.shape[2] // ctx.latents.shape[-1]
    ctx.foreground = latent_masks(foreground_masks(ctx.data.frames), factor)
    ctx.cfg.foreground_weight = 4.0
    b = ctx.batch(np.array([0, 1]), torch.Generator().manual_seed(4))
    assert torch.equal(b.noise, plain.noise)
    assert tuple(b.weight.shape) == (2, 1, *ctx.latents.shape[2:])
    assert set(b.weight.unique().tolist()) == {1.0, 5.0}
    with torch.no_grad():
        weighted = ctx.temporal_losses(b, anchor=0)[0]
        unweighted = ctx.temporal_losses(plain, anchor=0)[0]
    assert torch.isfinite(weighted) and weighted.item() != pytest.approx(unweighted.item())


def test_negative_foreground_weight_is_a_usage_error(tiny_gen, tiny_clips, tmp_path, runner):
    from finephys_cli.app import app

    root, sd, motion = tiny_gen
    res = runner.invoke(app, ["train-lora", "--mode", "unet", "--clips", str(tiny_clips),
                              "--sd15", str(sd), "--motion-adapter", str(motion), "--runs",
                              str(tmp_path), "--steps", "1", "--progress", "none",
                              "--set", "foreground_weight=-1"])
    assert res.exit_code == 2 and "foreground_weight" in res.output
