"""finephys score, study and export-vbench on tiny random models saved to disk and reloaded."""

import json
import shutil
import subprocess

import numpy as np
import pytest
import torch

from finephys_cli.io.video import write_video


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """A tiny random CLIPModel + processor (offline tokenizer), saved to disk."""
    from transformers import (CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor,
                              CLIPTokenizer)

    from finephys_cli.generation.components import write_word_tokenizer

    root = tmp_path_factory.mktemp("tiny_clip")
    tok_dir = write_word_tokenizer(root / "tok", ["a salto forward tucked", "a split leap"])
    tok = CLIPTokenizer.from_pretrained(tok_dir)
    torch.manual_seed(0)
    cfg = CLIPConfig(
        text_config=dict(hidden_size=32, intermediate_size=37, num_attention_heads=4,
                         num_hidden_layers=2, vocab_size=len(tok) + 1, bos_token_id=0,
                         eos_token_id=1, pad_token_id=1, max_position_embeddings=77),
        vision_config=dict(hidden_size=32, intermediate_size=37, num_attention_heads=4,
                           num_hidden_layers=2, image_size=32, patch_size=8),
        projection_dim=16)
    model = CLIPModel(cfg)
    proc = CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32},
                                                            crop_size={"height": 32,
                                                                       "width": 32}),
                         tokenizer=tok)
    model.save_pretrained(root / "clip")
    proc.save_pretrained(root / "clip")
    return root / "clip"


def _videos(folder, n, cls, seed, frames=10, size=48, prompt="a salto forward tucked"):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        v = np.repeat(rng.integers(0, 255, (1, size, size, 3), dtype=np.uint8), frames, 0)
        v[:, : size // 2] = rng.integers(0, 255, (frames, size // 2, size, 3), dtype=np.uint8)
        name = f"fx{cls:02d}_{i:03d}"
        write_video(folder / f"{name}.mp4", v)
        (folder / f"{name}.json").write_text(json.dumps(
            {"prompt": prompt, "gym99_class": cls, "video": f"{name}.mp4"}))
    return folder


def test_clip_formulas_on_crafted_inputs(tiny_clip):
    from transformers import CLIPModel

    from finephys_cli.metrics.clip_sim import (ClipEmbedder, pickscore, smooth_score,
                                               smooth_star, text_score)

    emb = ClipEmbedder.load(tiny_clip)
    rng = np.random.default_rng(0)
    still = np.repeat(rng.integers(0, 255, (1, 40, 40, 3), dtype=np.uint8), 6, 0)
    e = emb.images(still)
    assert smooth_score(e) == pytest.approx(1.0, abs=1e-9)
    assert smooth_score(e, "all") == pytest.approx(1.0, abs=1e-9)
    assert smooth_star(e, [e], 4) == pytest.approx(1.0, abs=1e-9)
    moving = rng.integers(0, 255, (6, 40, 40, 3), dtype=np.uint8)
    m = emb.images(moving)
    assert smooth_score(m) < 0.999
    # Against CLIPModel's own forward: logits_per_image = exp(logit_scale)·cos.
    model = CLIPModel.from_pretrained(tiny_clip)
    inputs = emb.processor(text=["a split leap"], images=list(moving), return_tensors="pt",
                           padding=True)
    with torch.no_grad():
        logits = model(**inputs).logits_per_image[:, 0].double().numpy()
    t = emb.texts(["a split leap"])[0]
    scale = float(model.logit_scale.exp())
    assert pickscore(m, t, scale) == pytest.approx(logits.mean(), rel=1e-4)
    assert text_score(m, t) == pytest.approx(100 * logits.mean() / scale, rel=1e-4)


def test_score_cli_all_metrics_end_to_end(tiny_clip, tiny_i3d, tmp_path, runner):
    from finephys_cli.app import app

    gen = _videos(tmp_path / "gen", 3, 25, seed=1)
    ref = _videos(tmp_path / "ref", 4, 25, seed=2)
    out = tmp_path / "scores.json"
    res = runner.invoke(app, ["score", str(gen), "--reference", str(ref), "--clip-model",
                              str(tiny_clip), "--pickscore-model", str(tiny_clip), "--i3d-model",
                              str(tiny_i3d), "--set", "fvd_frames=9", "-o", str(out),
                              "--progress", "none", "--metric", "clip-sim", "--metric",
                              "clip-sim-star", "--metric", "pickscore", "--metric", "fvd"])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    m = data["metrics"]
    assert set(m) == {"clip-sim", "clip-sim-star", "pickscore", "fvd"} and not data["skipped"]
    assert m["clip-sim"]["smooth"]["n"] == 3 and -1 <= m["clip-sim"]["smooth"]["mean"] <= 1
    assert m["clip-sim-star"]["protocol"]["references"]["25"] == sorted(
        m["clip-sim-star"]["protocol"]["references"]["25"])
    assert len(m["clip-sim-star"]["protocol"]["references"]["25"]) == 3
    assert m["fvd"]["fvd"] >= 0 and m["fvd"]["n_generated"] == 3 and m["fvd"]["warning"]
    assert "25" in data["per_class"] and out.with_suffix(".csv").is_file()
    header = out.with_suffix(".csv").read_text().splitlines()[0].split(",")
    assert header[:3] == ["video", "class", "prompt"] and "clip_star_smooth_k16" in header
    # FVD of a set against itself is 0; the same inputs give the same numbers again.
    res = runner.invoke(app, ["score", str(ref), "--reference", str(ref), "--i3d-model",
                              str(tiny_i3d), "--set", "fvd_frames=9", "--metric", "fvd", "-o",
                              str(tmp_path / "self.json"), "--progress", "none"])
    assert res.exit_code == 0, res.output
    assert abs(json.loads((tmp_path / "self.json").read_text())["metrics"]["fvd"]["fvd"]) < 1e-6


def test_missing_models_are_skipped_or_strict(tmp_path, runner, monkeypatch):
    from finephys_cli.app import app

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    for k in ("FINEPHYS_CLIP_MODEL", "FINEPHYS_PICKSCORE_MODEL", "FINEPHYS_I3D_MODEL"):
        monkeypatch.delenv(k, raising=False)
    gen = _videos(tmp_path / "gen", 2, 25, seed=1)
    out = tmp_path / "s.json"
    res = runner.invoke(app, ["score", str(gen), "--metric", "all", "-o", str(out),
                              "--progress", "none"])
    assert res.exit_code == 0, res.output
    skipped = json.loads(out.read_text())["skipped"]
    assert "clip-sim" in skipped and "--clip-model" in skipped["clip-sim"]
    res = runner.invoke(app, ["score", str(gen), "--metric", "all", "--strict", "-o",
                              str(out), "--progress", "none"])
    assert res.exit_code == 1 and "--overwrite" in res.stderr   # another config, same report
    res = runner.invoke(app, ["score", str(gen), "--metric", "all", "--strict", "-o",
                              str(out), "--progress", "none", "--overwrite"])
    assert res.exit_code == 1 and "clip" in res.output
    # Bug: a metric asked for by name that could not run was skipped with exit 0.
    res = runner.invoke(app, ["score", str(gen), "--metric", "fvd", "-o",
                              str(tmp_path / "f.json"), "--progress", "none"])
    assert res.exit_code == 1 and "fvd" in res.stderr and "Traceback" not in res.output
    assert len(res.stderr.strip().splitlines()) == 1 and "--reference" in res.stderr
    assert not (tmp_path / "f.json").exists()
    # Verbatim, as a user types it after `finephys generate`: GENERATED defaults to generated/.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "generated").symlink_to(gen)
    res = runner.invoke(app, ["score", "--metric", "fvd"])
    assert res.exit_code == 1 and "--reference" in res.stderr


def test_pose_fidelity_follows_the_skeleton(synth_small, tmp_path):
    from finephys_cli.io.poses_h5 import PoseFile
    from finephys_cli.metrics.pose_fidelity import pose_fidelity
    from finephys_cli.models.detectors import UltralyticsPose

    path, videos = synth_small
    with PoseFile(path) as pf:
        vid = pf.video_ids[0]
        exact = pf.read(vid, "keypoints2d_exact")
    from finephys_cli.io.video import read_frames

    frames, _ = read_frames(videos / f"{vid}.mp4", np.arange(0, len(exact), 4))
    skel = exact[::4]
    from finephys_cli.stages.detect import DetectConfig, detect_clip

    det = detect_clip(UltralyticsPose(), frames, DetectConfig())["keypoints2d"]
    good = pose_fidelity(det, skel)
    shifted = pose_fidelity(det, skel + np.array([60.0, 0.0]))
    # YOLO finds only part of a mannequin's joints, but those it finds sit on the skeleton.
    assert good["detected"] > 0.2 and good["px_error"] < 35
    assert shifted["pck"] < good["pck"] and shifted["px_error"] > good["px_error"] + 30


def test_part_fidelity_on_colour_coded_mannequin(tmp_path):
    from finephys_cli.metrics.pose_fidelity import part_fidelity
    from finephys_cli.stages.clips import ClipsConfig, load_clips, run_prepare_clips
    from finephys_cli.stages.synth import SynthConfig, run_synth

    synth = run_synth(SynthConfig(classes="6,33", per_class=1, seed=5, mannequin="parts"),
                      tmp_path / "s.h5", videos=tmp_path / "v", progress="none")
    clips = run_prepare_clips(ClipsConfig(size=128, frames=8), synth, tmp_path / "c.h5",
                              progress="none")
    d = load_clips([clips])
    for i in range(2):
        own = part_fidelity(d.frames[i], d.keypoints[i].astype(float))
        other = part_fidelity(d.frames[i], d.keypoints[1 - i].astype(float))
        assert own["pck"] > 0.6 and own["px_error"] < 4
        assert other["pck"] < 0.2 and other["px_error"] > 10


def test_export_vbench_names(tmp_path, runner):
    from finephys_cli.app import app

    gen = _videos(tmp_path / "gen", 2, 6, seed=3, prompt="switch leap / with 0.5 turn")
    res = runner.invoke(app, ["export-vbench", str(gen), "-o", str(tmp_path / "vb")])
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in (tmp_path / "vb").glob("*.mp4"))
    assert names == ["switch leap with 0.5 turn-0.mp4", "switch leap with 0.5 turn-1.mp4"]
    prompts = json.loads((tmp_path / "vb" / "prompts.json").read_text())
    assert prompts[names[0]] == "switch leap / with 0.5 turn"


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_study_page_escapes_user_strings(tmp_path):
    from finephys_cli.stages.study import make_study

    a = _videos(tmp_path / "ours", 2, 25, seed=1, prompt='<script>alert("x")</script>')
    b = _videos(tmp_path / "baseline", 2, 25, seed=2)
    page = make_study([a, b], tmp_path / "study").read_text()
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    assert "ours" not in page and "baseline" not in page       # blinded


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt install "
                                             "chromium); .ci/run installs it")
def test_study_page_in_headless_chromium_then_collect(tmp_path, runner):
    from finephys_cli.app import app

    a = _videos(tmp_path / "ours", 2, 25, seed=1)
    b = _videos(tmp_path / "baseline", 2, 25, seed=2)
    res = runner.invoke(app, ["study", "make", str(a), str(b), "-o", str(tmp_path / "study")])
    assert res.exit_code == 0, res.output
    page = tmp_path / "study" / "index.html"
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                          "--allow-file-access-from-files", "--virtual-time-budget=3000",
                          "--dump-dom", page.as_uri() + "#selftest"],
                         capture_output=True, text=True, timeout=120).stdout
    start = dom.index('id="selftest-output"')
    payload = dom[dom.index(">", start) + 1: dom.index("</pre>", start)]
    import html

    export = json.loads(html.unescape(payload))
    assert export["rater"] == "selftest" and len(export["ratings"]) == 2 * 2 * 3
    (tmp_path / "r.json").write_text(json.dumps(export))
    res = runner.invoke(app, ["study", "collect", str(tmp_path / "r.json"), "--key",
                              str(tmp_path / "study" / "key.json"), "-o",
                              str(tmp_path / "mos.json")])
    assert res.exit_code == 0, res.output
    mos = json.loads((tmp_path / "mos.json").read_text())["mos"]
    # The page clicked radio (i*2) % 5 of the i-th group in sorted name order: recompute.
    key = json.loads((tmp_path / "study" / "key.json").read_text())
    names = sorted(f"{tok}:{q}" for tok in key["tokens"] for q in ("text", "domain", "smooth"))
    expect: dict = {}
    for i, name in enumerate(names):
        tok, q = name.split(":")
        expect.setdefault((key["tokens"][tok]["method"], q), []).append((i * 2) % 5 + 1)
    for (method, q), vals in expect.items():
        assert mos[method][q]["mos"] == pytest.approx(np.mean(vals))
        assert mos[method][q]["n"] == len(vals)


def test_fvd_videomae_backend_end_to_end(tmp_path, runner):
    from transformers import VideoMAEConfig, VideoMAEImageProcessor, VideoMAEModel

    from finephys_cli.app import app

    torch.manual_seed(0)
    model = VideoMAEModel(VideoMAEConfig(image_size=32, patch_size=16, num_frames=4,
                                         tubelet_size=2, hidden_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, intermediate_size=37))
    model.save_pretrained(tmp_path / "vmae")
    VideoMAEImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
                           ).save_pretrained(tmp_path / "vmae")
    gen = _videos(tmp_path / "gen", 3, 25, seed=1)
    ref = _videos(tmp_path / "ref", 3, 25, seed=2)
    out = tmp_path / "s.json"
    res = runner.invoke(app, ["score", str(gen), "--reference", str(ref), "--metric", "fvd",
                              "--fvd-backend", "videomae", "--videomae-model",
                              str(tmp_path / "vmae"), "-o", str(out), "--progress", "none"])
    assert res.exit_code == 0, res.output
    fvd = json.loads(out.read_text())["metrics"]["fvd"]
    assert fvd["fvd"] > 0 and fvd["protocol"]["extractor"] == "videomae"
    assert fvd["protocol"]["feature"].startswith("32-d")


def test_export_vbench_and_study_make_follow_the_rerun_rule(tmp_path, runner):
    from finephys_cli.app import app

    gen = _videos(tmp_path / "gen", 2, 6, seed=3)
    for args, out in ((["export-vbench", str(gen)], tmp_path / "vb"),
                      (["study", "make", str(gen)], tmp_path / "study")):
        first = runner.invoke(app, [*args, "-o", str(out)])
        assert first.exit_code == 0, first.output
        made = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
        again = runner.invoke(app, [*args, "-o", str(out)])      # refused before
        assert again.exit_code == 0 and again.stdout == first.stdout
        assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == made
        _videos(gen, 3, 6, seed=4)                              # other inputs now
        other = runner.invoke(app, [*args, "-o", str(out)])
        assert other.exit_code == 1 and "--overwrite" in other.stderr
        assert runner.invoke(app, [*args, "-o", str(out), "--overwrite"]).exit_code == 0
        assert not (out.parent / f"{out.name}.partial").exists()


def test_study_collect_and_prepare_clips_refuse_wrong_side_files(tmp_path, runner, synth_small):
    import h5py

    from finephys_cli.app import app

    key = tmp_path / "key.json"
    key.write_text(json.dumps({"methods": ["a"], "tokens": {"t1": {"method": "a"}}}))
    cases = {"notjson.json": "{not json", "list.json": "[1, 2]",
             "noratings.json": json.dumps({"format": "finephys.study-ratings"}),
             "badrating.json": json.dumps({"format": "finephys.study-ratings",
                                           "ratings": [{"video": "t1"}]})}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
    with h5py.File(tmp_path / "x.h5", "w") as h5:
        h5.attrs["a"] = 1
    for name in [*cases, "x.h5"]:
        res = runner.invoke(app, ["study", "collect", str(tmp_path / name), "--key", str(key)])
        assert res.exit_code == 1 and "Traceback" not in res.output, (name, res.output)
        assert len(res.stderr.strip().splitlines()) == 1, (name, res.stderr)
    (tmp_path / "badcoco.json").write_text(json.dumps({"images": [1, 2], "annotations": []}))
    for name in ("notjson.json", "list.json", "badcoco.json"):
        res = runner.invoke(app, ["prepare-clips", str(tmp_path / name), "--images",
                                  str(tmp_path), "-o", str(tmp_path / "c.h5")])
        assert res.exit_code == 1 and ("COCO" in res.stderr or "JSON" in res.stderr), res.output
        assert not (tmp_path / "c.h5.partial").exists()


def test_score_records_an_unreadable_video_and_follows_the_rerun_rule(tiny_clip, tmp_path,
                                                                       runner):
    from finephys_cli.app import app

    gen = _videos(tmp_path / "gen", 2, 25, seed=1)
    (gen / "fx25_009.mp4").write_bytes(b"not a video" * 40)       # a broken one among them
    out = tmp_path / "s.json"
    args = ["score", str(gen), "--metric", "clip-sim", "--clip-model", str(tiny_clip), "-o",
            str(out), "--progress", "none"]
    res = runner.invoke(app, args)
    assert res.exit_code == 3 and "fx25_009.mp4" in res.stderr
    assert res.stdout.split() == [str(out), str(out.with_suffix(".csv"))]
    report = json.loads(out.read_text())
    assert list(report["failures"]) == [str(gen / "fx25_009.mp4")]
    assert report["metrics"]["clip-sim"]["smooth"]["n"] == 2          # the others scored
    (gen / "fx25_009.mp4").unlink()                    # the inputs changed: scored again
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and not json.loads(out.read_text())["failures"]
    made = out.stat().st_mtime_ns
    same = runner.invoke(app, args)                    # same config and videos: kept
    assert same.exit_code == 0 and out.stat().st_mtime_ns == made
    assert same.stdout == again.stdout
    other = runner.invoke(app, [*args, "--set", "smooth_pairs=all"])
    assert other.exit_code == 1 and "--overwrite" in other.stderr
