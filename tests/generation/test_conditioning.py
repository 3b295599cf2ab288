"""One conditioning path: a skeleton is selected, sampled, cropped and drawn the same way by
prepare-clips (training), render-heatmaps (stored) and generate (sampling)."""

import numpy as np
import pytest
import torch

from finephys_cli.errors import InputError, UsageError
from finephys_cli.generation.conditioning import (POSE_SOURCES, clip_pose, pose_maps,
                                                  resolve_source, stored_maps)
from finephys_cli.io.poses_h5 import PoseFile
from finephys_cli.stages.clips import ClipsConfig, load_clips, run_prepare_clips
from finephys_cli.stages.generate import GenerateConfig, poses_from_file
from finephys_cli.stages.heatmaps import HeatmapConfig, run_render_heatmaps

SIZE, FRAMES, LEVELS = 64, 6, [8, 4]


def _maps(kp, scores):
    full, lv = pose_maps(torch.as_tensor(kp, dtype=torch.float32),
                         torch.as_tensor(scores, dtype=torch.float32), SIZE, LEVELS)
    return [full.numpy(), *(m.numpy() for m in lv)]


def test_auto_policy_and_vocabulary(synth_small, pose2d_file):
    with PoseFile(synth_small[0]) as pf:
        vid = pf.video_ids[0]
        assert resolve_source(pf, vid, "auto") == "exact"
        assert resolve_source(pf, vid, "detect") == "detect"
        with pytest.raises(InputError, match="run physnet first"):
            resolve_source(pf, vid, "fused")
        with pytest.raises(UsageError, match="--pose-source"):
            resolve_source(pf, vid, "dd")
    with PoseFile(pose2d_file) as pf:
        assert resolve_source(pf, pf.video_ids[0], "auto") == "detect"
    assert POSE_SOURCES[0] == "auto" and "lift" in POSE_SOURCES and "physnet" in POSE_SOURCES


@pytest.mark.parametrize("source", ["auto", "detect"])
def test_prepare_clips_and_generate_condition_alike(synth_small, tmp_path, source):
    clips_path = run_prepare_clips(ClipsConfig(size=SIZE, frames=FRAMES, pose_source=source),
                                   synth_small[0], tmp_path / "c.h5", progress="none")
    clips = load_clips([clips_path])
    cfg = GenerateConfig(frames=FRAMES, pose_source=source)
    generated = poses_from_file(synth_small[0], cfg, SIZE, LEVELS, 99)
    assert len(generated) == len(clips)
    with PoseFile(clips_path) as pf:
        for i, pose in enumerate(generated):
            vid = clips.ids[i]
            assert pose.label.endswith(f"{vid} ({pose.source})") and pose.maps is None
            assert pf.video_attrs(vid)["pose_source"] == pose.source
            np.testing.assert_array_equal(clips.crop_box[i], pose.crop_box)
            np.testing.assert_array_equal(pf.video_attrs(vid)["frame_indices"],
                                          pose.frame_indices)
            np.testing.assert_allclose(clips.keypoints[i], pose.keypoints, atol=1e-4)
            for a, b in zip(_maps(clips.keypoints[i], clips.scores[i]),
                            _maps(pose.keypoints, pose.scores)):
                np.testing.assert_allclose(a, b, atol=1e-4)
    assert {p.source for p in generated} == {"exact" if source == "auto" else "detect"}


def test_generate_reuses_a_heatmaps_files_crop_and_maps(synth_small, tmp_path):
    hm = run_render_heatmaps(HeatmapConfig(size=SIZE, scales=(1, 8, 16), frames=FRAMES),
                             synth_small[0], tmp_path / "hm.h5", progress="none")
    cfg = GenerateConfig(frames=FRAMES)
    from_file = poses_from_file(synth_small[0], cfg, SIZE, LEVELS, 99)
    from_maps = poses_from_file(hm, cfg, SIZE, LEVELS, 99)
    for direct, stored in zip(from_file, from_maps):
        maps = stored.maps
        assert stored.source == direct.source == "exact" and "(exact)" in stored.label
        np.testing.assert_array_equal(stored.crop_box, direct.crop_box)
        np.testing.assert_allclose(stored.keypoints, direct.keypoints, atol=1e-3)
        assert maps is not None and [m.shape[-1] for m in maps] == [SIZE, *LEVELS]
        for a, b in zip(maps, _maps(direct.keypoints, direct.scores)):
            np.testing.assert_allclose(a, b, atol=2e-3)        # stored as fp16
    # Sizes the file lacks: the same crop, maps rendered from it.
    with PoseFile(hm) as pf:
        vid = pf.video_ids[0]
        pose = clip_pose(pf, vid, frames=FRAMES, size=128)
        assert stored_maps(pf, vid, pose, [128, 16, 8]) is None
        np.testing.assert_array_equal(pose.crop_box, pf.read(vid, "crop_box"))
        with pytest.raises(InputError, match="holds exact heatmaps"):
            clip_pose(pf, vid, source="detect", frames=FRAMES, size=SIZE)
