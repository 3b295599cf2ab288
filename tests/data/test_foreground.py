"""Foreground masks of fixed-camera clips."""

import numpy as np

from finephys_cli.data.foreground import foreground_masks, latent_masks


def _clip(frames=6, size=16):
    clip = np.full((frames, size, size, 3), 90, np.uint8)
    for f in range(frames):   # a bright bar moving right, two pixels per frame
        clip[f, 4:8, 2 + 2 * f:4 + 2 * f] = (250, 40, 40)
    return clip


def test_the_moving_performer_is_foreground_and_the_static_background_is_not():
    clip = _clip()
    m = foreground_masks(clip[None])[0]
    want = np.zeros(m.shape, bool)
    for f in range(len(clip)):
        want[f, 4:8, 2 + 2 * f:4 + 2 * f] = True
    np.testing.assert_array_equal(m, want)
    # A change below the threshold (camera noise) is background.
    noisy = clip.copy()
    noisy[::2, 12:, :] += 10
    assert not foreground_masks(noisy[None])[0][:, 12:].any()


def test_latent_masks_mark_every_cell_a_foreground_pixel_falls_in():
    m = np.zeros((1, 2, 16, 16), bool)
    m[0, 0, 5, 9] = True
    cells = latent_masks(m, 8)
    assert tuple(cells.shape) == (1, 1, 2, 2, 2)
    assert cells[0, 0, 0, 0, 1] and int(cells.sum()) == 1
