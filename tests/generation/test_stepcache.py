"""The opt-in DeepCache step cache on the tiny motion UNet: which blocks run on which steps,
that it changes the output only when asked, and that `generate` keys and records it."""

import json

import numpy as np
import pytest
import torch

from finephys_cli.generation.components import build_tiny, load_components
from finephys_cli.generation.encoder import HeatmapEncoder, HeatmapEncoderConfig
from finephys_cli.generation.pipeline import FinePhysPipeline, SampleSettings
from finephys_cli.generation.stepcache import StepCache, deep_blocks


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    root = tmp_path_factory.mktemp("stepcache")
    sd, motion = build_tiny(root, words=("salto", "leap", "turn"))
    torch.manual_seed(1)
    enc = HeatmapEncoder(HeatmapEncoderConfig(channels=(32, 64), num_res_blocks=1,
                                              zero_init=False))
    return FinePhysPipeline(load_components(sd, motion), enc)


def _pose(frames=4, size=64):
    rng = np.random.default_rng(0)
    return rng.uniform(8, size - 8, size=(frames, 17, 2)), np.ones((frames, 17))


def _counting(pipe):
    """Forward calls of a deep block's first ResNet and of the outer level's, per UNet run."""
    unet = pipe.unet
    calls = {"deep": 0, "outer": 0}
    hooks = [unet.mid_block.resnets[0].register_forward_hook(
                 lambda *a: calls.__setitem__("deep", calls["deep"] + 1)),
             unet.down_blocks[0].resnets[0].register_forward_hook(
                 lambda *a: calls.__setitem__("outer", calls["outer"] + 1))]
    return calls, hooks


def _sample(pipe, **kw):
    settings = SampleSettings(**{"steps": 5, "frames": 4, "size": 64, **kw})
    return pipe.latents(["salto"], [0], settings, poses=[_pose()])


def test_deep_blocks_run_every_nth_step_and_the_outer_level_every_step(pipe):
    calls, hooks = _counting(pipe)
    try:
        exact = _sample(pipe)
        assert calls == {"deep": 5, "outer": 5}
        calls.update(deep=0, outer=0)
        cached = _sample(pipe, step_cache=2)
        assert calls == {"deep": 3, "outer": 5}          # full steps 0, 2, 4
        calls.update(deep=0, outer=0)
        _sample(pipe, step_cache=3)
        assert calls == {"deep": 2, "outer": 5}          # full steps 0, 3
    finally:
        for h in hooks:
            h.remove()
    assert torch.isfinite(cached).all()
    assert (cached - exact).abs().max() > 1e-4           # reused features change the output
    torch.testing.assert_close(_sample(pipe, step_cache=2), cached)     # deterministic
    assert torch.equal(_sample(pipe), exact)             # off again: the exact sampler


def test_each_free_init_pass_starts_with_a_full_step(pipe):
    calls, hooks = _counting(pipe)
    try:
        _sample(pipe, steps=3, step_cache=2, free_init=2)
    finally:
        for h in hooks:
            h.remove()
    assert calls == {"deep": 4, "outer": 6}              # steps 0 and 2 of each pass


def test_installed_by_the_first_cached_sample_once_per_unet(tmp_path, pipe):
    import copy

    fresh = FinePhysPipeline(load_components(*build_tiny(tmp_path, words=("salto",))), None)
    fresh.latents(["salto"], [0], SampleSettings(steps=2, frames=4, size=64))
    assert fresh.step_cache is None                      # exact sampling never meets it
    assert "forward" not in vars(fresh.unet.mid_block)
    _sample(pipe, step_cache=2)
    again = FinePhysPipeline(pipe.components, None)
    assert again.step_cache is pipe.step_cache is StepCache.on(pipe.unet)
    names = [k for k, _ in deep_blocks(pipe.unet)]
    n_down, n_up = len(pipe.unet.down_blocks), len(pipe.unet.up_blocks)
    assert names == ([f"down_blocks.{i}" for i in range(1, n_down)] + ["mid_block"]
                     + [f"up_blocks.{i}" for i in range(n_up - 1)])
    # A copy's blocks run the copy's weights and answer to the copy's cache.
    twin = copy.deepcopy(pipe.unet)
    with torch.no_grad():
        for p in twin.mid_block.parameters():
            p.add_(1.0)
    x = torch.randn(1, 4, 2, 8, 8)
    ehs = torch.randn(2, 77, pipe.unet.config.cross_attention_dim)
    with torch.inference_mode():
        a = pipe.unet(x, 10, encoder_hidden_states=ehs).sample
        b = twin(x, 10, encoder_hidden_states=ehs).sample
    assert (a - b).abs().max() > 1e-3
    assert twin.mid_block._finephys_step_cache is twin._finephys_step_cache
    assert twin._finephys_step_cache is not pipe.step_cache
    with pytest.raises(Exception, match="step-cache"):
        with pipe.step_cache.every(0):
            pass


def test_generate_records_and_keys_the_step_cache(tmp_path, runner, synth_small, pipe):
    from finephys_cli.app import app

    root = tmp_path / "m"
    sd, motion = build_tiny(root, words=("salto", "leap", "turn"))
    base = ["generate", "--prompt", "salto", "--poses", str(synth_small[0]), "--sd15", str(sd),
            "--motion-adapter", str(motion), "--size", "64", "--frames", "4", "--steps", "3",
            "-o", str(tmp_path / "out")]
    r = runner.invoke(app, [*base, "--step-cache", "2"])
    assert r.exit_code == 0, r.output
    meta = json.loads(next((tmp_path / "out").glob("*.json")).read_text())
    assert meta["settings"]["step_cache"] == 2
    r = runner.invoke(app, base)                         # the exact sampler is other settings
    assert r.exit_code != 0 and "other settings" in r.output
    r = runner.invoke(app, [*base, "--step-cache", "0"])
    assert r.exit_code == 2
    # Reused outputs would live in a CUDA graph's pool, freed at its next replay.
    r = runner.invoke(app, [*base, "--step-cache", "2", "--compile", "--set",
                            "compile_mode=reduce-overhead", "-o", str(tmp_path / "cg")])
    assert r.exit_code == 2 and "CUDA-graph" in r.output
