import numpy as np

from finephys_cli.io.yolo_dataset import label_line, write_data_yaml


def test_label_line_normalises_pads_the_box_and_leaves_outside_joints_unlabelled():
    xy = np.full((17, 2), np.nan)
    xy[5:17] = np.linspace([20, 10], [60, 90], 12)     # 12 joints inside a 100x200 frame
    xy[0] = [150, 50]                                   # outside the frame: unlabelled
    parts = label_line(xy, 100, 200, box_pad=0.1).split()
    assert parts[0] == "0" and len(parts) == 5 + 17 * 3
    cx, cy, w, h = map(float, parts[1:5])
    # every finite joint counts for the box (the body reaches the frame's edge): extent x
    # 20..150, y 10..90, padded by 0.1 * 130 = 13 px a side, clipped to the frame
    np.testing.assert_allclose([cx * 100, cy * 200, w * 100, h * 200], [53.5, 51.5, 93, 103],
                               atol=1e-4)
    kp = np.array(parts[5:], float).reshape(17, 3)
    assert (kp[:5, 2] == 0).all() and (kp[5:, 2] == 2).all()
    np.testing.assert_allclose(kp[5:, :2] * [100, 200], xy[5:], atol=1e-4)
    few = np.full((17, 2), np.nan)
    few[:3] = 10
    assert label_line(few, 100, 200, 0.1) is None


def test_data_yaml_names_the_pose_layout(tmp_path):
    text = write_data_yaml(tmp_path).read_text()
    assert "kpt_shape: [17, 3]" in text and "flip_idx: [0, 2, 1, 4, 3" in text
    assert str(tmp_path.resolve()) in text
