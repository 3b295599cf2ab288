import numpy as np
import pytest
from PIL import Image

from finephys_cli.app import app
from finephys_cli.io.video import probe
from finephys_cli.stages.synth import SynthConfig, run_synth
from finephys_cli.stages.viz import draw_skeleton


def test_draw_skeleton_skips_nan_and_colours_sides():
    img = np.zeros((100, 100, 3), np.uint8)
    kp = np.full((17, 2), np.nan)
    kp[4], kp[5] = (20, 20), (20, 80)   # left hip -> left knee: blue
    kp[1], kp[2] = (80, 20), (80, 80)   # right hip -> right knee: red
    draw_skeleton(img, kp, thickness=2)
    assert img[50, 20, 2] > 200 and img[50, 20, 0] < 100
    assert img[50, 80, 0] > 200 and img[50, 80, 2] < 100
    assert img[50, 50].sum() == 0


def test_viz_cli_png_strip_gif_and_mp4(runner, tmp_path):
    src = run_synth(SynthConfig(classes="25", per_class=1), tmp_path / "s.h5",
                    videos=tmp_path / "v", progress="none")
    png = tmp_path / "o.png"
    res = runner.invoke(app, ["viz", str(src), "--pose-sources", "detect,exact", "--n-frames", "4",
                              "-o", str(png)])
    assert res.exit_code == 0, res.output
    arr = np.array(Image.open(png))
    assert arr.shape[1] == 512 and arr.shape[0] == 4 * 256 and arr.std() > 10
    res = runner.invoke(app, ["viz", str(src), "--mode", "3d", "--pose-sources", "exact",
                              "-o", str(tmp_path / "o.gif")])
    assert res.exit_code == 0, res.output
    assert Image.open(tmp_path / "o.gif").n_frames > 10
    res = runner.invoke(app, ["viz", str(src), "-o", str(tmp_path / "o.mp4")])
    assert res.exit_code == 0 and probe(tmp_path / "o.mp4").n_frames > 10
    bad = runner.invoke(app, ["viz", str(src), "--pose-sources", "dd", "-o",
                              str(tmp_path / "x.png")])
    assert bad.exit_code == 2 and "2d source" in bad.stderr     # a bad value: usage
    missing = runner.invoke(app, ["viz", str(src), "--pose-sources", "lift", "-o",
                                  str(tmp_path / "x.png")])
    assert missing.exit_code == 1 and "run lift first" in missing.stderr   # the data lacks it


def test_overlay_uses_the_sampled_video_frames(tmp_path):
    """Regression: detect samples frames, so pose row k must be drawn on frame_indices[k]."""
    from finephys_cli.io.poses_h5 import PoseFile, PoseFileWriter
    from finephys_cli.io.video import write_video
    from finephys_cli.stages.viz import _video_frames

    video = np.stack([np.full((32, 32, 3), 20 * i, np.uint8) for i in range(12)])
    write_video(tmp_path / "v.mp4", video, fps=25)
    with PoseFileWriter(tmp_path / "p.h5", format="finephys.pose2d", config={},
                        config_hash="h") as w:
        w.write_video("v", {"source_path": "v.mp4", "frame_indices": np.array([0, 5, 10]),
                            "n_frames": 3, "width": 32, "height": 32},
                      {"keypoints2d": np.zeros((3, 17, 2)), "scores": np.ones((3, 17))})
        w.finish()
    with PoseFile(tmp_path / "p.h5") as pf:
        frames = list(_video_frames(pf, "v", np.arange(4))[0])   # row 3: beyond the pose rows
        picked = list(_video_frames(pf, "v", np.array([2]))[0])  # only the rows drawn
    assert len(frames) == 4 and frames[3] is None and len(picked) == 1
    np.testing.assert_allclose([float(frames[k][16, 16, 0]) for k in range(3)], [0, 100, 200],
                               atol=12)
    np.testing.assert_array_equal(picked[0], frames[2])


def test_a_gif_of_a_long_video_is_refused_before_rendering(tmp_path):
    from finephys_cli.errors import UsageError
    from finephys_cli.io.poses_h5 import PoseFileWriter
    from finephys_cli.stages.viz import MAX_GIF_FRAMES, VizConfig, run_viz

    n = MAX_GIF_FRAMES + 1
    with PoseFileWriter(tmp_path / "p.h5", format="finephys.pose2d", config={},
                        config_hash="h") as w:
        w.write_video("v", {"n_frames": n, "width": 32, "height": 32},
                      {"keypoints2d": np.zeros((n, 17, 2)), "scores": np.ones((n, 17))})
        w.finish()
    with pytest.raises(UsageError, match="mp4"):
        run_viz(VizConfig(), tmp_path / "p.h5", tmp_path / "v.gif")
    assert not list(tmp_path.glob("v.gif*"))
