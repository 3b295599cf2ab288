"""The optional BlazePose backend (mediapipe==0.10.21, its own environment because it pins
numpy<2): run with `pip install -e ".[mediapipe]"`; skipped where mediapipe is missing."""

import numpy as np
import pytest

mp = pytest.importorskip("mediapipe")


def _grace_hopper() -> np.ndarray:
    import matplotlib.cbook as cbook
    from PIL import Image

    with cbook.get_sample_data("grace_hopper.jpg") as fh:
        return np.array(Image.open(fh).convert("RGB"))


def test_blazepose_finds_a_person_and_maps_to_coco():
    from finephys_cli.models.detectors import MediapipePose

    img = _grace_hopper()
    det = MediapipePose()
    out = det([img, np.full_like(img, 127)])
    det.close()
    person, blank = out
    assert person.keypoints.shape == (1, 17, 3) and blank.keypoints.shape == (0, 17, 3)
    kp = person.keypoints[0]
    h, w = img.shape[:2]
    assert (kp[:5, 0] > 0).all() and (kp[:5, 0] < w).all() and (kp[:5, 1] < h).all()
    # COCO order: the nose sits above the shoulders, and image-left is the person's right.
    assert kp[0, 1] < kp[5, 1] and kp[0, 1] < kp[6, 1] and kp[6, 0] < kp[5, 0]
    assert person.world is not None and person.world.shape == (1, 33, 3)
    assert 0 <= person.boxes[0, 4] <= 1
