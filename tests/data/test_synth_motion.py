"""Quantitative physics checks of the synthetic gymnastics, for every class."""

import re

import numpy as np
import pytest

from finephys_cli.data.classes import class_by_id, load_classes, select_classes
from finephys_cli.data.synth_motion import (LIMITS, PROGRAMS, centre_of_mass, generate_motion,
                                            measure_rotations)
from finephys_cli.errors import InputError
from finephys_cli.skeleton import bone_lengths

CLASSES = [c.gym99_class for c in load_classes()]


@pytest.fixture(scope="module")
def motions():
    out = {}
    for cid in CLASSES:
        for k in range(2):
            out[cid, k] = generate_motion(class_by_id(cid), np.random.default_rng([7, cid, k]))
    return out


def test_class_table_has_35_classes():
    assert len(CLASSES) == 35 and set(PROGRAMS) == set(CLASSES)
    assert len(select_classes("FX-TURN")) == 7 and len(select_classes("6,7,FX-JUMP")) == 11
    with pytest.raises(InputError):
        select_classes("nonsense")


def test_programs_match_label_numbers():
    for c in load_classes():
        prog = PROGRAMS[c.gym99_class]
        turn = re.search(r"([\d.]+) turn", c.label)
        twist = re.search(r"([\d.]+) twist", c.label)
        if c.gym99_class == 13:     # Johnson (1/4 turn) + additional 0.5
            assert prog.turn == 0.75
        elif turn:
            assert prog.turn == float(turn.group(1)), c.label
        if twist:
            assert prog.twist == float(twist.group(1)), c.label
        if "double salto" in c.label.lower():
            assert abs(prog.salto) == 2
        elif "salto" in c.label.lower():
            assert abs(prog.salto) == 1
        if "backward" in c.label:
            assert prog.salto < 0


def test_bone_lengths_constant(motions):
    for m in motions.values():
        bl = bone_lengths(m.joints)
        assert ((bl.max(0) - bl.min(0)) / bl.mean(0)).max() < 1e-6


def test_flight_is_ballistic(motions):
    for (cid, _), m in motions.items():
        if m.program.kind == "turn":
            continue
        a0, a1 = m.frame_action
        y = centre_of_mass(m.joints)[a0 - 1:a1 + 1, 1]
        acc = np.diff(y, 2) * m.fps ** 2
        assert len(acc) >= 8
        np.testing.assert_allclose(acc, -9.81, rtol=0.02, err_msg=f"class {cid}")


def test_rotation_counts_match_labels(motions):
    for (cid, _), m in motions.items():
        got = measure_rotations(m.joints)
        prog = m.program
        if prog.kind == "salto":
            assert abs(got["salto"] - prog.salto) < 0.1, (cid, got)
            assert abs(abs(got["twist"]) - prog.twist) < 0.1, (cid, got)
        else:
            assert abs(abs(got["turn"]) - prog.turn) < 0.1, (cid, got)
            assert abs(got["salto"]) < 0.1, (cid, got)


def test_feet_on_floor_at_takeoff_and_landing(motions):
    for (cid, _), m in motions.items():
        ankles = m.joints[:, [3, 6], 1] - m.body.ankle_h
        a0, a1 = m.frame_action
        for frame in (a0 - 1, min(a1 + 1, len(m.joints) - 1)):
            assert np.abs(ankles[frame]).min() < 0.02, (cid, frame, ankles[frame])
        assert ankles.min() > -0.02
        # A planted foot does not slide: the support ankle before the action stays put.
        support = m.joints[: a0, 3, [0, 2]]
        assert np.abs(support - support[0]).max() < 1e-6, cid
        assert m.contact[a0 - 1].any() and m.contact[min(a1 + 1, len(m.joints) - 1)].any()


def test_joint_angles_within_human_limits(motions):
    for (cid, _), m in motions.items():
        j = m.joints
        for hip, knee, ankle in ((1, 2, 3), (4, 5, 6)):
            thigh, shin = j[:, knee] - j[:, hip], j[:, ankle] - j[:, knee]
            cos = (thigh * shin).sum(-1) / np.linalg.norm(thigh, axis=-1) / np.linalg.norm(
                shin, axis=-1)
            flex = np.degrees(np.arccos(np.clip(cos, -1, 1)))
            assert flex.max() <= LIMITS["knee"][1] + 1e-6, cid
        for sh, el, wr in ((11, 12, 13), (14, 15, 16)):
            up, fore = j[:, el] - j[:, sh], j[:, wr] - j[:, el]
            cos = (up * fore).sum(-1) / np.linalg.norm(up, axis=-1) / np.linalg.norm(fore, axis=-1)
            assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() <= LIMITS["elbow"][1] + 1e-6


def test_too_few_frames_is_a_clear_error():
    with pytest.raises(InputError, match="needs .* frames"):
        generate_motion(class_by_id(31), np.random.default_rng(0), frames=16)
    m = generate_motion(class_by_id(31), np.random.default_rng(0), fps=10, frames=25)
    assert m.joints.shape == (25, 17, 3)
