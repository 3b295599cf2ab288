import numpy as np
import pytest

from finephys_cli.data.deepmimic import RESERVED, available_clips, load_clip, resample
from finephys_cli.errors import InputError
from finephys_cli.skeleton import bone_lengths


def test_reserved_clips_are_excluded_and_refused():
    names = available_clips()
    assert len(names) >= 10 and not set(RESERVED) & set(names)
    for name in RESERVED:
        with pytest.raises(InputError, match="reserved"):
            load_clip(name)


def test_forward_kinematics_gives_a_rigid_upright_skeleton():
    times, joints = load_clip("humanoid3d_walk")
    assert joints.shape[1:] == (17, 3) and len(times) == len(joints)
    bl = bone_lengths(joints)
    assert (bl.std(0) / bl.mean(0)).max() < 1e-3          # rigid links
    assert joints[:, 10, 1].mean() > joints[:, 0, 1].mean() > joints[:, 3, 1].mean()  # y up
    assert np.abs(joints[:, [3, 6], 1].min()) < 0.15      # feet near the floor
    at25 = resample(times, joints, 25.0)
    assert abs(len(at25) - times[-1] * 25) <= 1.5
