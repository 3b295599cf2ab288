import numpy as np
from PIL import Image

from finephys_cli.app import app


def test_viz_heatmap_overlay(runner, synth_small, tmp_path):
    synth, _ = synth_small
    hm = tmp_path / "sub" / "hm.h5"
    assert runner.invoke(app, ["render-heatmaps", str(synth), "--pose-source", "detect", "--size",
                               "128", "--scales", "1,8", "-o", str(hm), "--device", "cpu",
                               "--progress", "none"]).exit_code == 0
    out = tmp_path / "hm.png"
    res = runner.invoke(app, ["viz", str(hm), "--n-frames", "3", "-o", str(out)])
    assert res.exit_code == 0, res.output
    img = np.array(Image.open(out))
    assert img.shape == (3 * 256, 256, 3) and img.std() > 10
