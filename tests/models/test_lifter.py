import numpy as np
import torch

from finephys_cli.models.lifter import InContextLifter, LifterConfig

CFG = LifterConfig(dim=16, depth=2, heads=2, merge_idx=1, dim_rep=16, bank_size=4)


def test_shapes_seeded_and_save_load(tmp_path):
    torch.manual_seed(0)
    m = InContextLifter(CFG).eval()
    q = torch.randn(2, 16, 17, 3)
    p2, p3 = torch.randn(2, 16, 17, 3), torch.randn(2, 16, 17, 3)
    out = m(q, p2, p3)
    assert out.shape == (2, 16, 17, 3)
    torch.manual_seed(0)
    m2 = InContextLifter(CFG).eval()
    torch.testing.assert_close(m2(q, p2, p3), out)
    m.save_pretrained(tmp_path / "l")
    m3 = InContextLifter.from_pretrained(tmp_path / "l")
    torch.testing.assert_close(m3(q, p2, p3), out)
    assert m(q).shape == (2, 16, 17, 3)     # the no-prompt ablation path


def test_prompt_choice_is_deterministic_and_nearest():
    m = InContextLifter(CFG)
    bank = torch.randn(4, 16, 17, 3)
    bank[..., 2] = 1
    m.bank_2d.copy_(bank)
    q = bank[[2, 0]].clone()
    assert m.choose_prompts(q).tolist() == [2, 0]
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(m.choose_prompts(q, "random", g1), m.choose_prompts(q, "random", g2))


def test_residual_starts_at_query_2d_plus_prior_without_a_prompt_shortcut():
    m = InContextLifter(CFG).eval()
    for p in m.head[-1].parameters():
        torch.nn.init.zeros_(p)
    torch.nn.init.normal_(m.mean_prior)
    q, p2, p3 = torch.randn(1, 16, 17, 3), torch.randn(1, 16, 17, 3), torch.randn(1, 16, 17, 3)
    out = m(q, p2, p3)
    np.testing.assert_allclose(out[..., :2].detach(), (q[..., :2] + m.mean_prior[..., :2]),
                               atol=1e-6)
    np.testing.assert_allclose(out[..., 2].detach(), m.mean_prior[..., 2].expand(1, 16, 17),
                               atol=1e-6)


def test_v01_prompt_shortcut_ties_depth_to_the_prompt():
    import dataclasses

    m = InContextLifter(dataclasses.replace(CFG, prompt_shortcut=True)).eval()
    for p in m.head[-1].parameters():
        torch.nn.init.zeros_(p)
    q, p2, p3 = torch.randn(1, 16, 17, 3), torch.randn(1, 16, 17, 3), torch.randn(1, 16, 17, 3)
    out = m(q, p2, p3)
    np.testing.assert_allclose(out[..., :2].detach(), (q[..., :2] - p2[..., :2] + p3[..., :2]),
                               atol=1e-6)
    np.testing.assert_allclose(out[..., 2].detach(), p3[..., 2], atol=1e-6)


def test_cpu_matmul_attention_equals_sdpa():
    """The CPU inference path (two bmm) gives SDPA's result; training keeps SDPA."""
    import torch

    from finephys_cli.models.lifter import _attention

    torch.manual_seed(0)
    q, k, v = (torch.randn(6, 4, 17, 16) for _ in range(3))
    want = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    with torch.inference_mode():
        got = _attention(q, k, v)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_prompt_free_lift_skips_retrieval():
    import torch

    from finephys_cli.models.lifter import InContextLifter, LifterConfig

    torch.manual_seed(0)
    model = InContextLifter(LifterConfig(dim=16, depth=2, heads=2, use_prompt=False)).eval()
    q = torch.randn(3, 16, 17, 3)
    with torch.inference_mode():
        out, idx = model.lift(q)
        torch.testing.assert_close(out, model(q))
    assert idx.tolist() == [0, 0, 0]


def test_last_layer_computes_only_the_frames_it_is_read_at():
    """keep_from drops the frames before it once no temporal stage is left; the kept frames
    equal the full layer's, on the CPU inference path and under autograd (SDPA)."""
    torch.manual_seed(0)
    model = InContextLifter(CFG).eval()
    layer = model.layers[-1]
    x = torch.randn(3, 32, 17, CFG.dim)
    with torch.inference_mode():
        full, kept = layer(x), layer(x, 16)
    assert kept.shape == (3, 16, 17, CFG.dim)
    torch.testing.assert_close(kept, full[:, 16:], atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(layer(x, 16), layer(x)[:, 16:], atol=1e-6, rtol=1e-6)
    # A temporal stage still reads the dropped frames: changing them changes the kept output.
    y = x.clone()
    y[:, :16] = torch.randn(3, 16, 17, CFG.dim)
    with torch.inference_mode():
        assert (layer(y, 16) - kept).abs().max() > 1e-3


def test_flip_averaged_lift_is_mirror_equivariant_with_and_without_prompts():
    """Mirroring the query (and its prompt) mirrors the flip-averaged lift exactly (the plain
    lift only approximately), and the mirrored pass changes the result."""
    import copy

    from finephys_cli.models.lifter import flip_normalised

    torch.manual_seed(0)
    for use_prompt in (False, True):
        model = InContextLifter(LifterConfig(dim=16, depth=2, heads=2, bank_size=4,
                                             use_prompt=use_prompt)).eval()
        model.bank_2d.normal_()
        model.bank_3d.normal_()
        mirror = copy.deepcopy(model)            # the same weights, the bank mirrored
        mirror.bank_2d.copy_(flip_normalised(model.bank_2d))
        mirror.bank_3d.copy_(flip_normalised(model.bank_3d))
        q = torch.randn(3, 16, 17, 3)
        idx = torch.tensor([0, 3, 1])
        with torch.inference_mode():
            plain, _ = model.lift(q, indices=idx)
            avg, _ = model.lift(q, indices=idx, flip_average=True)
            of_mirror, _ = mirror.lift(flip_normalised(q), indices=idx, flip_average=True)
            plain_mirror, _ = mirror.lift(flip_normalised(q), indices=idx)
        torch.testing.assert_close(flip_normalised(of_mirror), avg, atol=1e-5, rtol=1e-5)
        assert (flip_normalised(plain_mirror) - plain).abs().max() > 1e-3
        assert (avg - plain).abs().max() > 1e-3


def test_widened_lifter_keeps_the_weights_and_stretches_time_per_half():
    """benchmarks/skeletons/widen_lifter.py (how lifter v0.8 was started from v0.7): the same
    weights, the 2D half and the prior half of the temporal embedding each stretched from F
    to F' frames with their ends kept, and a model that lifts F'-frame windows."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "skeletons" / "widen_lifter.py"
    spec = importlib.util.spec_from_file_location("widen_lifter", path)
    widen_lifter = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(widen_lifter)
    torch.manual_seed(0)
    src = InContextLifter(CFG).eval()
    with torch.no_grad():
        src.mean_prior.normal_()
    wide = widen_lifter.widen(src, 24)
    assert wide.config.frames == 24 and wide.temp_embed.shape[1] == 48
    te, we = src.temp_embed, wide.temp_embed
    for s_idx, w_idx in ((0, 0), (15, 23), (16, 24), (31, 47)):
        torch.testing.assert_close(we[:, w_idx], te[:, s_idx])
    torch.testing.assert_close(wide.mean_prior[[0, -1]], src.mean_prior[[0, -1]])
    torch.testing.assert_close(wide.embed.weight, src.embed.weight)
    assert wide(torch.randn(2, 24, 17, 3)).shape == (2, 24, 17, 3)
