"""generate --compile: compiled frames agree with eager ones, a new video does not recompile,
and the compile caches live in a persistent folder."""

from pathlib import Path

import numpy as np
import pytest
import torch

from finephys_cli.generation.components import build_tiny, load_components
from finephys_cli.generation.encoder import HeatmapEncoder, HeatmapEncoderConfig
from finephys_cli.generation.pipeline import FinePhysPipeline, SampleSettings
from finephys_cli.metrics.image import psnr_uint8

SETTINGS = SampleSettings(steps=2, frames=4, size=64)


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_compile")
    sd, motion = build_tiny(root, words=("salto", "leap"))
    torch.manual_seed(1)
    HeatmapEncoder(HeatmapEncoderConfig(channels=(32, 64), num_res_blocks=1, zero_init=False)
                   ).save_pretrained(root / "enc")
    return sd, motion, root / "enc"


@pytest.fixture
def inductor_env(monkeypatch):
    """enable_persistent_cache sets these; record them so the test's values are undone."""
    for name in ("TORCHINDUCTOR_CACHE_DIR", "TORCHINDUCTOR_FX_GRAPH_CACHE",
                 "TORCHINDUCTOR_AUTOGRAD_CACHE"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    return monkeypatch


def _pipe(parts, device="cpu", dtype=torch.float32):
    sd, motion, enc = parts
    return FinePhysPipeline(load_components(sd, motion), HeatmapEncoder.from_pretrained(enc),
                            device=device, dtype=dtype)


def _pose(seed):
    rng = np.random.default_rng(seed)
    return rng.uniform(8, 56, (4, 17, 2)), np.ones((4, 17))


def _check(parts, backend, device="cpu", dtype=torch.float32, min_psnr=40.0, scope="unet",
           settings=SETTINGS):
    eager = _pipe(parts, device, dtype)(["salto"], [0], settings, poses=[_pose(0)])
    compiled = _pipe(parts, device, dtype)
    compiled.compile(backend=backend, scope=scope)
    first = compiled(["salto"], [0], settings, poses=[_pose(0)])
    assert psnr_uint8(first, eager) > min_psnr
    # Another prompt, seed and skeleton reuse the graphs: the hooks read a PoseSlot, and the
    # step cache one bool.
    with torch._dynamo.config.patch(error_on_recompile=True):
        other = compiled(["leap"], [1], settings, poses=[_pose(1)])
    assert psnr_uint8(other, first) < 30          # a different video, not a stale one
    return first


@pytest.mark.parametrize("scope", ["unet", "blocks"])
def test_compiled_graph_matches_eager_and_does_not_recompile(parts, scope):
    torch._dynamo.reset()
    _check(parts, "eager", scope=scope)   # dynamo's graphs without Inductor: seconds, not minutes


@pytest.mark.parametrize("scope", ["unet", "blocks"])
def test_compiled_step_cache_matches_eager_and_does_not_recompile(parts, scope):
    torch._dynamo.reset()
    _check(parts, "eager", scope=scope, settings=SampleSettings(steps=4, frames=4, size=64,
                                                                step_cache=2))


def test_blocks_scope_compiles_every_resnet_and_transformer_block(parts):
    from diffusers.models.attention import BasicTransformerBlock
    from diffusers.models.resnet import ResnetBlock2D

    pipe = _pipe(parts)
    pipe.compile(backend="eager", scope="blocks")
    modules = [*pipe.unet.modules(), *pipe.components.vae.decoder.modules()]
    blocks = [m for m in modules if isinstance(m, (BasicTransformerBlock, ResnetBlock2D))]
    assert blocks and all(m._compiled_call_impl is not None for m in blocks)
    assert not hasattr(pipe.unet, "_orig_mod")      # the UNet itself stays an eager module
    with pytest.raises(ValueError, match="compile_scope"):
        _pipe(parts).compile(backend="eager", scope="everything")
    with pytest.raises(ValueError, match="CUDA graphs"):
        _pipe(parts).compile(mode="reduce-overhead", scope="blocks")
    _pipe(parts).compile(mode="reduce-overhead", scope="blocks", backend="eager")  # mode unused


@pytest.mark.gpu
def test_inductor_on_cuda_matches_eager(parts):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    torch._dynamo.reset()
    _check(parts, "inductor", "cuda", torch.float16, min_psnr=35.0)
    torch._dynamo.reset()
    _check(parts, "inductor", "cuda", torch.float16, min_psnr=35.0, scope="blocks")
    torch._dynamo.reset()
    _check(parts, "inductor", "cuda", torch.float16, min_psnr=35.0,
           settings=SampleSettings(steps=4, frames=4, size=64, step_cache=2))


@pytest.mark.slow
def test_inductor_on_cpu_matches_eager_and_caches(parts, tmp_path, inductor_env):
    from finephys_cli.generation import compile as fc

    inductor_env.setenv("FINEPHYS_CACHE_DIR", str(tmp_path / "cache"))
    root = fc.enable_persistent_cache()
    torch._dynamo.reset()
    _check(parts, "inductor")
    saved = fc.save_artifacts("k")
    assert saved is not None and saved.stat().st_size > 0 and fc.load_artifacts("k")
    assert fc.cache_report()["megacaches"] == 1 and Path(root).is_dir()


def test_cache_folder_is_persistent_and_user_chosen(tmp_path, inductor_env):
    from finephys_cli.generation import compile as fc

    monkeypatch = inductor_env
    monkeypatch.delenv("FINEPHYS_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert fc.cache_dir() == tmp_path / "xdg" / "finephys" / "compile"
    monkeypatch.setenv("FINEPHYS_CACHE_DIR", str(tmp_path / "mine"))
    fc.enable_persistent_cache()
    import os

    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "mine" / "compile" /
                                                        "inductor")
    assert not fc.load_artifacts("missing")
    assert fc.cache_report()["megacaches"] == 0


def test_generate_rejects_an_unknown_compile_scope(tmp_path):
    from finephys_cli.errors import UsageError
    from finephys_cli.stages.generate import GenerateConfig, run_generate

    job = [{"prompt": "salto", "class": None, "seed": None}]
    with pytest.raises(UsageError, match="compile_scope 'everything'"):
        run_generate(GenerateConfig(compile=True, compile_scope="everything"), job,
                     tmp_path / "out")
    # CUDA graphs per block crashed on the H200 (outputs overwritten by the next replay)
    for mode in ("reduce-overhead", "max-autotune"):
        with pytest.raises(UsageError, match="CUDA graphs"):
            run_generate(GenerateConfig(compile=True, compile_scope="blocks", compile_mode=mode),
                         job, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
