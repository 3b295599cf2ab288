import numpy as np

from finephys_cli import skeleton as sk


def test_bones_match_parents():
    assert len(sk.H36M_BONES) == 16
    for parent, child in sk.H36M_BONES:
        assert sk.H36M_PARENTS[child] == parent
    assert sk.H36M_PARENTS[0] == -1


def test_flip_is_involution_and_swaps_sides():
    rng = np.random.default_rng(0)
    pose = rng.normal(size=(5, 17, 3))
    flipped = sk.flip_h36m(pose)
    np.testing.assert_array_equal(sk.flip_h36m(flipped), pose)
    np.testing.assert_array_equal(flipped[:, 4, 0], -pose[:, 1, 0])
    np.testing.assert_array_equal(flipped[:, 11, 1], pose[:, 14, 1])
    np.testing.assert_array_equal(flipped[:, 0, 0], -pose[:, 0, 0])


def test_flip_keeps_bone_lengths():
    rng = np.random.default_rng(1)
    pose = rng.normal(size=(17, 3))
    np.testing.assert_allclose(sk.bone_lengths(sk.flip_h36m(pose)), sk.bone_lengths(pose)[
        [sk.H36M_BONES.index((sk.H36M_PARENTS[sk.H36M_FLIP_PERM[c]], sk.H36M_FLIP_PERM[c]))
         for _, c in sk.H36M_BONES]])


def test_coco_to_h36m_hand_checked():
    # A hand-made COCO pose: every joint at a distinct, easy location.
    coco = np.zeros((17, 2))
    coco[0] = (50, 10)           # nose
    coco[1], coco[2] = (48, 8), (52, 8)      # eyes
    coco[5], coco[6] = (60, 30), (40, 30)    # l/r shoulder (image-left is the person's right)
    coco[7], coco[8] = (65, 45), (35, 45)
    coco[9], coco[10] = (70, 60), (30, 60)
    coco[11], coco[12] = (56, 70), (44, 70)  # hips
    coco[13], coco[14] = (57, 90), (43, 90)
    coco[15], coco[16] = (58, 110), (42, 110)
    scores = np.linspace(0.1, 0.9, 17)
    h36m, sc = sk.coco_to_h36m(coco, scores)
    np.testing.assert_allclose(h36m[0], (50, 70))          # pelvis = mean of hips
    np.testing.assert_allclose(h36m[8], (50, 30))          # thorax = mean of shoulders
    np.testing.assert_allclose(h36m[7], (50, 50))          # spine = mean of pelvis, thorax
    np.testing.assert_allclose(h36m[9], (50, 10))          # nose
    np.testing.assert_allclose(h36m[10], (50, 8))          # head = mean of eyes
    np.testing.assert_allclose(h36m[1], (44, 70))          # R hip <- COCO 12
    np.testing.assert_allclose(h36m[3], (42, 110))         # R ankle <- COCO 16
    np.testing.assert_allclose(h36m[13], (70, 60))         # L wrist <- COCO 9
    np.testing.assert_allclose(h36m[14], (40, 30))         # R shoulder <- COCO 6
    assert sc[0] == min(scores[11], scores[12])
    assert sc[7] == min(scores[11], scores[12], scores[5], scores[6])
    assert sc[10] == min(scores[1], scores[2])
    assert sc[16] == scores[10]


def test_coco_to_h36m_propagates_nan():
    coco = np.ones((2, 17, 2))
    coco[1, 11] = np.nan
    h36m, _ = sk.coco_to_h36m(coco)
    assert np.isnan(h36m[1, 0]).all() and np.isnan(h36m[1, 7]).all()
    assert not np.isnan(h36m[0]).any()


def test_h36m_to_coco_is_the_inverse_of_coco_to_h36m_where_it_has_one():
    from finephys_cli.skeleton import COCO_FLIP_IDX, coco_to_h36m, h36m_to_coco

    h36m = np.random.default_rng(0).normal(size=(3, 17, 2))
    coco = h36m_to_coco(h36m)
    assert np.isnan(coco[:, [3, 4]]).all() and not np.isnan(coco[:, [0, 1, 2, 5, 16]]).any()
    back, _ = coco_to_h36m(coco)
    # all but the derived pelvis, spine and thorax (means of COCO joints) come back exactly
    direct = [1, 2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 14, 15, 16]
    np.testing.assert_allclose(back[:, direct], h36m[:, direct])
    assert COCO_FLIP_IDX[:7] == (0, 2, 1, 4, 3, 6, 5) and sorted(COCO_FLIP_IDX) == list(range(17))
