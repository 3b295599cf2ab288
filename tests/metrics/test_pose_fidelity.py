"""Pose fidelity on colour-coded mannequins rendered from synth skeletons."""

import numpy as np


def _parts_clip(tmp_path):
    from finephys_cli.stages.clips import ClipsConfig, load_clips, run_prepare_clips
    from finephys_cli.stages.synth import SynthConfig, run_synth

    synth = run_synth(SynthConfig(classes="6", per_class=1, seed=5), tmp_path / "s.h5",
                      progress="none")
    clips = run_prepare_clips(ClipsConfig(size=128, frames=8, render="parts"), synth,
                              tmp_path / "c.h5", progress="none")
    d = load_clips([clips])
    return d.frames[0], d.keypoints[0].astype(float)


def test_mannequin_frames_and_part_velocity_error_on_a_rendered_mannequin(tmp_path):
    from finephys_cli.metrics.pose_fidelity import mannequin_frames, part_velocity_error

    frames, kp = _parts_clip(tmp_path)
    assert mannequin_frames(frames) == 1.0
    assert mannequin_frames(np.zeros_like(frames)) == 0.0
    still = part_velocity_error(frames, kp)
    jittered = kp.copy()
    jittered[1::2] += 6.0            # the target jumps by 6 px every other frame
    assert still < 3.0 and part_velocity_error(frames, jittered) > still + 4.0
