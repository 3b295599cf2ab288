"""FinePhysPipeline and `finephys generate` on tiny random components saved to disk and
reloaded through the real loaders."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from finephys_cli.generation.components import build_tiny, linear_schedulers, load_components
from finephys_cli.generation.encoder import HeatmapEncoder, HeatmapEncoderConfig
from finephys_cli.generation.pipeline import FinePhysPipeline, SampleSettings, check_scheduler

SETTINGS = SampleSettings(steps=2, guidance_scale=7.5, frames=4, size=64)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_pipe")
    sd, motion = build_tiny(root, words=("salto", "leap", "turn"))
    torch.manual_seed(1)
    cfg = dict(channels=(32, 64), num_res_blocks=1)
    HeatmapEncoder(HeatmapEncoderConfig(**cfg)).save_pretrained(root / "enc_zero")
    live = HeatmapEncoder(HeatmapEncoderConfig(**cfg, zero_init=False))
    for conv in live.out:   # large enough that a skeleton visibly steers 2 DDIM steps
        conv.weight.data.mul_(30)
    live.save_pretrained(root / "enc_live")
    return root, sd, motion


def _pose(seed, frames=4, size=64):
    rng = np.random.default_rng(seed)
    kp = rng.uniform(8, size - 8, size=(frames, 17, 2))
    return kp, np.ones((frames, 17))


def _pipe(tiny, enc):
    root, sd, motion = tiny
    encoder = HeatmapEncoder.from_pretrained(root / enc) if enc else None
    return FinePhysPipeline(load_components(sd, motion), encoder)


def test_zero_init_encoder_equals_plain_animatediff(tiny):
    from diffusers import AnimateDiffPipeline

    ours = _pipe(tiny, "enc_zero")
    lat = ours.latents(["salto"], [3], SETTINGS, poses=[_pose(0)])
    c = load_components(tiny[1], tiny[2])
    stock = AnimateDiffPipeline(vae=c.vae, text_encoder=c.text_encoder, tokenizer=c.tokenizer,
                                unet=c.unet, motion_adapter=None, scheduler=c.sample_scheduler)
    ref = stock("salto", negative_prompt="", num_frames=4, height=64, width=64,
                num_inference_steps=2, guidance_scale=7.5,
                generator=[torch.Generator().manual_seed(3)], output_type="latent").frames
    assert torch.equal(lat, ref)
    frames = ours.decode(lat)
    stock_frames = (stock.decode_latents(ref) / 2 + 0.5).clamp(0, 1)   # (B,3,F,H,W)
    expect = (stock_frames.permute(0, 2, 3, 4, 1) * 255).round().to(torch.uint8).numpy()
    assert frames.shape == (1, 4, 64, 64, 3) and frames.dtype == np.uint8
    # The same VAE on the same latents; batch composition may move a value across a rounding edge.
    assert np.abs(frames.astype(int) - expect.astype(int)).max() <= 1


def test_pose_steers_and_different_poses_differ(tiny):
    pipe = _pipe(tiny, "enc_live")
    a = pipe.latents(["salto"], [0], SETTINGS, poses=[_pose(0)])
    b = pipe.latents(["salto"], [0], SETTINGS, poses=[_pose(1)])
    off = pipe.latents(["salto"], [0], SampleSettings(**{**SETTINGS.__dict__, "pose_scale": 0}),
                       poses=[_pose(0)])
    none = pipe.latents(["salto"], [0], SETTINGS, poses=None)
    assert torch.equal(off, none)
    assert (a - none).abs().max() > 1e-3
    assert (a - b).abs().max() > 1e-3
    # A batch of two equals the two videos sampled alone (per-video seeds and features).
    both = pipe.latents(["salto", "salto"], [0, 0], SETTINGS, poses=[_pose(0), _pose(1)])
    torch.testing.assert_close(both[0], a[0], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(both[1], b[0], atol=1e-4, rtol=1e-4)


def test_math_temporal_attention_matches_sdpa(tiny):
    """set_temporal_attention("math") swaps only the motion modules' kernel: the latents stay
    within float tolerance of SDPA's, and an unknown kind is refused."""
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    pipe = _pipe(tiny, "enc_live")
    ref = pipe.latents(["salto"], [0], SETTINGS, poses=[_pose(0)])
    n = pipe.set_temporal_attention("math")
    procs = pipe.unet.attn_processors
    assert n > 0 and sum(isinstance(p, AttnProcessor) for p in procs.values()) == n
    assert all(isinstance(p, AttnProcessor2_0) for k, p in procs.items()
               if "motion_modules" not in k)
    math = pipe.latents(["salto"], [0], SETTINGS, poses=[_pose(0)])
    torch.testing.assert_close(math, ref, atol=1e-4, rtol=1e-4)
    assert pipe.set_temporal_attention("sdpa") == n
    torch.testing.assert_close(pipe.latents(["salto"], [0], SETTINGS, poses=[_pose(0)]), ref)
    with pytest.raises(Exception, match="sdpa or math"):
        pipe.set_temporal_attention("flash")


def test_hooks_are_removed_even_on_error(tiny):
    pipe = _pipe(tiny, "enc_live")

    def boom():
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        pipe.latents(["salto"], [0], SETTINGS, poses=[_pose(0)], on_step=boom)
    for block in pipe.unet.down_blocks:
        assert not block.motion_modules[-1]._forward_hooks


def test_bad_inputs_give_clear_errors(tiny):
    from finephys_cli.errors import InputError

    pipe = _pipe(tiny, "enc_live")
    with pytest.raises(InputError, match="at most 32"):
        pipe.latents(["salto"], [0], SampleSettings(frames=33, size=64), poses=None)
    with pytest.raises(InputError, match="takes 16"):
        pipe.encode_heatmaps(torch.zeros(4, 17, 64, 64), [torch.zeros(4, 17, 8, 8)] * 2)
    with pytest.raises(InputError, match="frames"):
        pipe.latents(["salto"], [0], SETTINGS, poses=[_pose(0, frames=5)])


def test_scheduler_must_be_animatediff_linear():
    from diffusers import DDIMScheduler

    from finephys_cli.errors import ConfigError

    check_scheduler(linear_schedulers()[1])
    with pytest.raises(ConfigError, match="beta_schedule"):
        check_scheduler(DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085,
                                      beta_end=0.012, clip_sample=False, steps_offset=1))
    with pytest.raises(ConfigError, match="clip_sample"):
        check_scheduler(DDIMScheduler(beta_schedule="linear", beta_start=0.00085,
                                      beta_end=0.012, steps_offset=1))


def test_lora_round_trip_and_stock_pipeline_load(tiny, tmp_path):
    from diffusers import AnimateDiffPipeline

    from finephys_cli.generation.lora import add_loras, load_loras, save_loras

    c = load_components(tiny[1], tiny[2])
    add_loras(c.unet, rank=4, dropout=0.1, alpha=8)
    with torch.no_grad():
        for name, p in c.unet.named_parameters():
            if "lora_B" in name:
                p.normal_()
    saved = {n: p.detach().clone() for n, p in c.unet.named_parameters() if "lora_" in n}
    save_loras(c.unet, tmp_path / "lora")
    assert (tmp_path / "lora" / "spatial" / "pytorch_lora_weights.safetensors").is_file()
    fresh = load_components(tiny[1], tiny[2])
    pipe = AnimateDiffPipeline(vae=fresh.vae, text_encoder=fresh.text_encoder,
                               tokenizer=fresh.tokenizer, unet=fresh.unet, motion_adapter=None,
                               scheduler=fresh.sample_scheduler)
    assert load_loras(pipe, tmp_path / "lora") == ["spatial", "temporal"]
    loaded = dict(pipe.unet.named_parameters())
    assert set(saved) == {n for n in loaded if "lora_" in n}
    for n, v in saved.items():
        assert torch.equal(loaded[n], v), n
    assert pipe.unet.peft_config["spatial"].lora_alpha == 8          # metadata kept
    x = torch.randn(1, 4, 4, 8, 8)
    ehs = torch.randn(4, 5, 32)
    with torch.no_grad():
        c.unet.eval()
        pipe.unet.eval()
        torch.testing.assert_close(pipe.unet(x, 10, encoder_hidden_states=ehs).sample,
                                   c.unet(x, 10, encoder_hidden_states=ehs).sample)


def test_generate_cli_writes_videos_and_sidecars(tiny, runner, tmp_path, tiny_pose_models,
                                                 synth_small, monkeypatch):
    from finephys_cli.app import app
    from finephys_cli.io.video import probe

    root, sd, motion = tiny
    monkeypatch.setenv("FINEPHYS_LIFTER_MODEL", str(tiny_pose_models / "lifter"))
    monkeypatch.setenv("FINEPHYS_PHYSNET_MODEL", str(tiny_pose_models / "physnet"))
    common = ["--sd15", str(sd), "--motion-adapter", str(motion),
              "--heatmap-encoder", str(root / "enc_live"), "--size", "64", "--frames", "6",
              "--steps", "2", "--progress", "none"]
    args = ["generate", "--prompt", "a tucked salto", "--class", "25", "--num-videos", "2",
            "-o", str(tmp_path / "out"), *common]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    mp4s = sorted((tmp_path / "out").glob("*.mp4"))
    assert len(mp4s) == 2
    for mp4 in mp4s:
        assert probe(mp4).n_frames == 6
        meta = json.loads(mp4.with_suffix(".json").read_text())
        assert meta["gym99_class"] == 25 and meta["seed"] in (0, 1)
        assert "somersault" in meta["prompt_extended"]
        assert np.asarray(meta["pose"]["keypoints_crop_px"]).shape == (6, 17, 2)
        assert meta["models"]["sd15"]["sha256"] and meta["models"]["heatmap_encoder"]["path"]
        assert mp4.with_suffix(".png").is_file()
    before = {p: p.stat().st_mtime_ns for p in mp4s}
    assert runner.invoke(app, args).exit_code == 0          # finished work is skipped
    assert {p: p.stat().st_mtime_ns for p in mp4s} == before
    # A pose file drives the skeleton instead of synth.
    res = runner.invoke(app, ["generate", "--prompt", "x", "--poses", str(synth_small[0]),
                              "-o", str(tmp_path / "out2"), *common])
    assert res.exit_code == 0, res.output
    meta = json.loads(next((tmp_path / "out2").glob("*.json")).read_text())
    assert str(synth_small[0]) in meta["pose"]["source"]


def test_generate_cli_errors(runner, tmp_path, monkeypatch):
    from finephys_cli.app import app

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    res = runner.invoke(app, ["generate", "--prompt", "x", "--sd15", str(tmp_path / "nope"),
                              "-o", str(tmp_path / "o")])
    assert res.exit_code == 1 and "does not exist" in res.output and "finephys models" in res.output
    res = runner.invoke(app, ["generate", "-o", str(tmp_path / "o")])
    assert res.exit_code == 2 and "--prompt" in res.output      # usage


def test_models_toml_sets_generator_paths(tmp_path, monkeypatch):
    from finephys_cli.models.registry import configured_path

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("FINEPHYS_SD15_MODEL", raising=False)
    (tmp_path / "finephys").mkdir()
    (tmp_path / "finephys" / "models.toml").write_text('[models]\nsd15 = "/w/sd15"\n')
    assert configured_path("sd15") == (Path("/w/sd15"), str(tmp_path / "finephys" / "models.toml"))
    monkeypatch.setenv("FINEPHYS_SD15_MODEL", "/env/sd")
    assert configured_path("sd15")[0] == Path("/env/sd")
    assert configured_path("sd15", Path("/opt"))[1] == "option"





def test_half_precision_nan_decode_falls_back_to_fp32(tiny):
    from types import SimpleNamespace

    root, sd, motion = tiny
    pipe = FinePhysPipeline(load_components(sd, motion), None, dtype=torch.bfloat16)
    vae = pipe.components.vae
    real = vae.decode

    def decode(z):   # what an fp16 VAE overflow looks like (AnimateDiff #203)
        if vae.dtype != torch.float32:
            return SimpleNamespace(sample=torch.full((len(z), 3, 64, 64), float("nan")))
        return real(z)

    vae.decode = decode
    frames = pipe.decode(torch.randn(1, 4, 2, 8, 8))
    assert vae.dtype == torch.float32 and frames.shape == (1, 2, 64, 64, 3)
    assert frames.max() > 0          # real pixels, not NaN cast to 0


def test_generate_shards_split_the_jobs(tiny, runner, tmp_path, synth_small):
    from finephys_cli.app import app

    root, sd, motion = tiny
    base = ["generate", "--prompt", "salto", "--poses", str(synth_small[0]), "--num-videos",
            "3", "--sd15", str(sd), "--motion-adapter", str(motion), "--heatmap-encoder",
            str(root / "enc_live"), "--size", "64", "--frames", "4", "--steps", "1",
            "--progress", "none", "-o", str(tmp_path / "out")]
    names = []
    for i in range(2):
        res = runner.invoke(app, [*base, "--shard", f"{i}/2"])
        assert res.exit_code == 0, res.output
        names.append({Path(p).name for p in res.output.split() if p.endswith(".mp4")})
    assert not names[0] & names[1]
    assert sorted(names[0] | names[1]) == sorted(p.name for p in (tmp_path / "out").glob("*.mp4"))
    assert len(names[0] | names[1]) == 3


def test_generate_rerun_rule_and_failed_jobs(tiny, runner, tmp_path, synth_small):
    """Same settings skip; other settings are refused without --overwrite (they silently
    replaced the videos before); a changed --poses file redoes the videos; a prompt whose
    skeleton cannot be made is recorded, the others are written (exit 3)."""
    import shutil

    import h5py

    from finephys_cli.app import app

    root, sd, motion = tiny
    poses = tmp_path / "poses.h5"
    shutil.copy(synth_small[0], poses)
    common = ["--sd15", str(sd), "--motion-adapter", str(motion), "--heatmap-encoder",
              str(root / "enc_live"), "--size", "64", "--frames", "4", "--progress", "none",
              "-o", str(tmp_path / "out")]
    args = ["generate", "--prompt", "salto", "--poses", str(poses), *common]
    assert runner.invoke(app, [*args, "--steps", "2"]).exit_code == 0
    mp4 = next((tmp_path / "out").glob("*.mp4"))
    first = mp4.stat().st_mtime_ns
    again = runner.invoke(app, [*args, "--steps", "2"])
    assert again.exit_code == 0 and again.stdout.split() == [str(mp4)]
    other = runner.invoke(app, [*args, "--steps", "3"])
    assert other.exit_code == 1 and "other settings" in other.stderr and "--overwrite" in \
        other.stderr
    assert mp4.stat().st_mtime_ns == first
    with h5py.File(poses, "a") as h5:       # the skeleton file changes in place
        vid = sorted(h5["videos"])[0]
        h5[f"videos/{vid}/keypoints2d"][...] += 3.0
    redo = runner.invoke(app, [*args, "--steps", "2"])
    assert redo.exit_code == 0 and mp4.stat().st_mtime_ns != first

    csv = tmp_path / "prompts.csv"
    csv.write_text("prompt,class,seed\nswitch leap with 0.5 turn,,0\na cat on a mat,,0\n")
    mixed = ["generate", "--prompts", str(csv), *common[:-1], str(tmp_path / "mix"),
             "--steps", "1"]
    res = runner.invoke(app, mixed)
    assert res.exit_code == 3 and "matches no Gym99 FX class" in res.stderr
    assert [p.endswith(".mp4") for p in res.stdout.split()] == [True]
    failed = list((tmp_path / "mix").glob("*.failed.json"))
    assert len(failed) == 1 and "cat" in json.loads(failed[0].read_text())["prompt"]
    again = runner.invoke(app, mixed)      # only the failed job is left: retried, fails again
    assert again.exit_code == 3 and "matches no Gym99 FX class" in again.stderr
    assert len(list((tmp_path / "mix").glob("*.failed.json"))) == 1


def test_generate_prompts_csv_is_validated(runner, tmp_path):
    from finephys_cli.app import app

    for text, message in (("prompt,seed\nsalto,one\n", "seed 'one' is not an integer"),
                          ("prompt,class\nsalto,99\n", "class 99 is not a Gym99"),
                          ("name\nsalto\n", "a 'prompt' column")):
        (tmp_path / "p.csv").write_text(text)
        res = runner.invoke(app, ["generate", "--prompts", str(tmp_path / "p.csv"), "-o",
                                  str(tmp_path / "o")])
        assert res.exit_code == 1 and message in res.stderr, res.output
        assert "Traceback" not in res.output
    (tmp_path / "p.csv").write_bytes(b"\x89HDF\r\n\x1a\n\x00\xff\xfe")
    res = runner.invoke(app, ["generate", "--prompts", str(tmp_path / "p.csv"), "-o",
                              str(tmp_path / "o")])
    assert res.exit_code == 1 and "binary file" in res.stderr
