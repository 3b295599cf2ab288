"""The generator's parts on a tiny random SD1.5 + MotionAdapter of the real classes."""

import math

import pytest
import torch

from finephys_cli.generation.components import build_tiny, linear_schedulers, load_components
from finephys_cli.generation.encoder import HeatmapEncoder, HeatmapEncoderConfig
from finephys_cli.generation.inject import PoseSlot, pose_injection, tiled
from finephys_cli.generation.losses import (ad_temporal_loss, spatial_loss, temporal_loss,
                                            weighted_mean)


@pytest.fixture(scope="module")
def comps(tmp_path_factory):
    sd, motion = build_tiny(tmp_path_factory.mktemp("tiny_gen"), words=("salto", "leap"))
    return load_components(sd, motion)


def _inputs(f=4, size=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    sample = torch.randn(1, 4, f, size, size, generator=g)
    ehs = torch.randn(f, 5, 32, generator=g)
    return sample, ehs


def test_load_components_from_local_folders(comps, tmp_path):
    from diffusers import UNetMotionModel

    assert isinstance(comps.unet, UNetMotionModel)
    assert comps.vae.config.block_out_channels == [8, 8, 8, 8]       # scale factor 8
    ids = comps.tokenizer("salto leap", padding="max_length", max_length=77).input_ids
    assert len(ids) == 77
    sample, ehs = _inputs()
    out = comps.unet(sample, 10, encoder_hidden_states=ehs).sample
    assert out.shape == sample.shape
    with pytest.raises(Exception, match="not found"):
        load_components(tmp_path / "nope", tmp_path / "nope2")


def test_schedulers_are_animatediff_linear():
    ddpm, ddim = linear_schedulers()
    for s in (ddpm, ddim):
        assert s.config.beta_schedule == "linear" and s.config.clip_sample is False
        assert s.config.beta_start == 0.00085 and s.config.beta_end == 0.012
    assert ddim.config.steps_offset == 1 and ddim.config.set_alpha_to_one is False


def _encoder(channels=(32, 64), zero_init=True):
    return HeatmapEncoder(HeatmapEncoderConfig(in_channels=16, channels=channels,
                                               num_res_blocks=1, zero_init=zero_init))


def test_zero_init_encoder_leaves_the_unet_unchanged_and_hooks_come_off(comps):
    sample, ehs = _inputs()
    unet = comps.unet.eval()
    hm = torch.rand(4, 16, 64, 64)
    levels = [torch.rand(4, 16, 8, 8), torch.rand(4, 16, 4, 4)]
    feats = _encoder()(hm, levels)
    assert [tuple(f.shape) for f in feats] == [(4, 32, 8, 8), (4, 64, 4, 4)]
    with torch.no_grad():
        base = unet(sample, 10, encoder_hidden_states=ehs).sample
        with pose_injection(unet, feats):
            same = unet(sample, 10, encoder_hidden_states=ehs).sample
        live = _encoder(zero_init=False)(hm, levels)
        with pose_injection(unet, live):
            moved = unet(sample, 10, encoder_hidden_states=ehs).sample
        after = unet(sample, 10, encoder_hidden_states=ehs).sample
    assert torch.equal(base, same)
    assert (moved - base).abs().max() > 1e-4
    assert torch.equal(base, after)


def test_injection_tiles_features_under_cfg_and_passes_gradients(comps):
    unet = comps.unet
    enc = _encoder(zero_init=False)
    hm = torch.rand(4, 16, 64, 64)
    feats = enc(hm)
    sample, ehs = _inputs()
    with pose_injection(unet, feats):
        out = unet(torch.cat([sample, sample]), 10,
                   encoder_hidden_states=torch.cat([ehs, ehs])).sample
    assert torch.allclose(out[0], out[1], atol=1e-5)
    out.mean().backward()
    assert enc.out[0].weight.grad is not None and enc.out[0].weight.grad.abs().sum() > 0
    unet.zero_grad(set_to_none=True)


def test_pose_cfg_leaves_the_skeleton_out_of_the_unconditional_half(comps):
    feat = torch.randn(4, 3, 2, 2)
    out = torch.zeros(8, 3, 2, 2)
    both = tiled(feat, out)
    assert torch.equal(both[:4], feat) and torch.equal(both[4:], feat)
    cfg = tiled(feat, out, pose_cfg=True)
    assert float(cfg[:4].abs().max()) == 0 and torch.equal(cfg[4:], feat)
    assert torch.equal(tiled(feat, out[:4], pose_cfg=True), feat)   # no CFG batch: untouched
    with pytest.raises(ValueError, match="does not divide"):
        tiled(feat, torch.zeros(6, 3, 2, 2))
    with pytest.raises(ValueError, match="uncond; cond"):
        tiled(feat, torch.zeros(12, 3, 2, 2), pose_cfg=True)
    # Through the UNet: the cond half is steered as before, the uncond half as without a pose.
    enc = _encoder(zero_init=False)
    with torch.no_grad():
        feats = enc(torch.rand(4, 16, 64, 64))
    sample, ehs = _inputs()
    x, e = torch.cat([sample, sample]), torch.cat([ehs, ehs])
    with torch.no_grad():
        plain = comps.unet(x, 10, encoder_hidden_states=e).sample
        with pose_injection(comps.unet, feats):
            posed = comps.unet(x, 10, encoder_hidden_states=e).sample
        slot = PoseSlot(comps.unet)
        with slot.holding(feats, pose_cfg=True):
            split = comps.unet(x, 10, encoder_hidden_states=e).sample
        slot.remove()
    torch.testing.assert_close(split[0], plain[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(split[1], posed[1], atol=1e-5, rtol=1e-5)
    assert (posed[1] - plain[1]).abs().max() > 1e-3


def test_weighted_losses_reduce_to_the_paper_and_ignore_zero_weight():
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(2, 4, 3, 5, 5, generator=g), torch.randn(2, 4, 3, 5, 5, generator=g)
    ones = torch.ones(2, 1, 3, 5, 5)
    for loss in (spatial_loss, temporal_loss):
        assert loss(pred, target, ones).item() == pytest.approx(loss(pred, target).item())
        assert loss(pred, target, 3 * ones).item() == pytest.approx(loss(pred, target).item())
    assert ad_temporal_loss(pred, target, 1, weight=ones).item() == pytest.approx(
        ad_temporal_loss(pred, target, 1).item())
    # Cells of weight 0 do not count: the loss is the mean over the others.
    w = torch.zeros_like(ones)
    w[..., :2, :] = 1
    sq = (pred - target) ** 2
    assert temporal_loss(pred, target, w).item() == pytest.approx(sq[..., :2, :].mean().item())
    changed = pred.clone()
    changed[..., 2:, :] += 5
    assert temporal_loss(changed, target, w).item() == pytest.approx(
        temporal_loss(pred, target, w).item())
    assert weighted_mean(sq, None).item() == pytest.approx(sq.mean().item())


def test_ad_temporal_loss_properties():
    x = torch.randn(2, 4, 6, 8, 8)
    assert ad_temporal_loss(x, x, anchor=2) == 0
    y = torch.randn(2, 4, 1, 8, 8)
    z = torch.randn(2, 4, 1, 8, 8)
    alpha, beta = math.sqrt(2), 1.0
    assert ad_temporal_loss(y, z, anchor=0).item() == pytest.approx(
        (alpha - beta) ** 2 * temporal_loss(y, z).item(), rel=1e-5)


def test_lora_modes_separate_spatial_and_temporal(comps):
    import copy

    from finephys_cli.generation.lora import add_loras, lora_mode

    unet = copy.deepcopy(comps.unet)
    sample, ehs = _inputs()
    with torch.no_grad():
        base = unet(sample, 10, encoder_hidden_states=ehs).sample
    add_loras(unet, rank=4, dropout=0.0)
    names = [n for n, _ in unet.named_parameters() if "lora_" in n]
    assert any(".spatial." in n and "motion_modules" not in n for n in names)
    assert any(".temporal." in n and "motion_modules" in n for n in names)
    assert not any(".temporal." in n and "motion_modules" not in n for n in names)
    unet.eval()
    with torch.no_grad():   # peft's lora_B starts at zero: the UNet is unchanged
        torch.testing.assert_close(unet(sample, 10, encoder_hidden_states=ehs).sample, base)
    lora_mode(unet, "spatial")
    grads = {n: p.requires_grad for n, p in unet.named_parameters() if "lora_" in n}
    assert all(v for n, v in grads.items() if ".spatial." in n)
    assert not any(v for n, v in grads.items() if ".temporal." in n)
    lora_mode(unet, "temporal")
    grads = {n: p.requires_grad for n, p in unet.named_parameters() if "lora_" in n}
    assert all(v for n, v in grads.items() if ".temporal." in n)
    assert not any(v for n, v in grads.items() if ".spatial." in n)


def test_stock_animatediff_pipeline_runs_under_pose_injection(comps):
    from diffusers import AnimateDiffPipeline

    pipe = AnimateDiffPipeline(vae=comps.vae, text_encoder=comps.text_encoder,
                               tokenizer=comps.tokenizer, unet=comps.unet,
                               motion_adapter=None, scheduler=comps.sample_scheduler)
    feats = _encoder(zero_init=False)(torch.rand(4, 16, 64, 64))
    outs = []
    for inject in (False, True):
        g = torch.Generator().manual_seed(0)
        if inject:
            with pose_injection(comps.unet, feats):
                res = pipe("salto", num_frames=4, height=64, width=64, num_inference_steps=2,
                           guidance_scale=7.5, generator=g, output_type="pt")
        else:
            res = pipe("salto", num_frames=4, height=64, width=64, num_inference_steps=2,
                       guidance_scale=7.5, generator=g, output_type="pt")
        outs.append(res.frames)
    assert outs[0].shape == (1, 4, 3, 64, 64)
    assert 0 <= outs[0].min() and outs[0].max() <= 1
    assert (outs[0] - outs[1]).abs().max() > 1e-4     # the skeleton features steer sampling


def test_motion_adapter_from_an_original_single_file_with_a_local_config(tmp_path):
    """An AnimateDiff-format checkpoint (original key names) converts offline through
    MotionAdapter.from_single_file with the config folder beside it."""
    import re

    from diffusers import MotionAdapter
    from safetensors.torch import save_file

    from finephys_cli.errors import ModelNotFoundError
    from finephys_cli.generation.components import load_motion_adapter

    torch.manual_seed(0)
    ref = MotionAdapter(block_out_channels=(32, 64), motion_layers_per_block=1,
                        motion_norm_num_groups=32, motion_num_attention_heads=4,
                        motion_max_seq_length=32, use_motion_mid_block=False)
    original = {}
    for k, v in ref.state_dict().items():   # the reverse of diffusers' key conversion
        k = re.sub(r"(motion_modules\.\d+)\.", r"\1.temporal_transformer.", k)
        k = (k.replace(".norm1", ".norms.0").replace(".norm2", ".norms.1")
             .replace(".norm3", ".ff_norm").replace(".attn1", ".attention_blocks.0")
             .replace(".attn2", ".attention_blocks.1"))
        original[k] = v.contiguous()
    ckpt = tmp_path / "mm_tiny.safetensors"
    save_file(original, str(ckpt))
    with pytest.raises(ModelNotFoundError, match="config"):
        load_motion_adapter(ckpt)
    ref.save_pretrained(tmp_path / "mm_tiny.safetensors.config")
    loaded = load_motion_adapter(ckpt)
    got, want = loaded.state_dict(), ref.state_dict()
    assert set(got) == set(want)
    for k in want:
        assert torch.equal(got[k], want[k]), k
