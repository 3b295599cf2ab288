import json
import os
import signal
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from finephys_cli.errors import LockError, OutputExistsError, SchemaError
from finephys_cli.io.atomic import OutputLock
from finephys_cli.io.poses_h5 import PoseFile, PoseFileWriter, merge_files, summarize


def test_round_trip_keeps_nan_dims_units(pose2d_file):
    with PoseFile(pose2d_file, formats=["finephys.pose2d"]) as pf:
        assert pf.video_ids == ["vid0", "vid1", "vid2"]
        kp = pf.read("vid0", "keypoints2d")
        assert kp.shape == (8, 17, 2) and np.isnan(kp[1, 3]).all()
        ds = pf.h5["videos/vid0/keypoints2d"]
        assert json.loads(ds.attrs["dims"]) == ["frame", "joint", "xy"]
        assert ds.attrs["units"] == "px"
        assert pf.h5["videos/vid0/scores"].attrs["units"] == "1"
        assert pf.video_attrs("vid1")["label"] == "label 1"
        assert pf.h5["skeleton"].attrs["name"] == "h36m17"
        assert pf.h5["videos/vid0/keypoints2d"].compression == "gzip"


def _set_attr(path, key, value):
    with h5py.File(path, "a") as h5:
        h5.attrs[key] = value


def test_newer_major_version_is_refused(pose2d_file):
    _set_attr(pose2d_file, "format_version", "2.0")
    with pytest.raises(SchemaError, match="format_version 2.0") as exc:
        PoseFile(pose2d_file)
    assert "\n" not in str(exc.value)


def test_newer_minor_version_is_read(pose2d_file):
    _set_attr(pose2d_file, "format_version", "1.3")
    with PoseFile(pose2d_file) as pf:
        assert pf.video_ids


def test_wrong_format_and_skeleton_are_refused(pose2d_file):
    with pytest.raises(SchemaError, match="expected finephys.pose3d"):
        PoseFile(pose2d_file, formats=["finephys.pose3d"])
    with pytest.raises(SchemaError, match="skeleton h36m17, expected coco17"):
        PoseFile(pose2d_file, skeleton="coco17")


def test_not_hdf5_is_refused(tmp_path):
    bad = tmp_path / "x.h5"
    bad.write_text("hello")
    with pytest.raises(SchemaError, match="not an HDF5 file"):
        PoseFile(bad)


def test_finished_output_is_skipped_or_refused(pose2d_file):
    with PoseFileWriter(pose2d_file, format="finephys.pose2d", config={}, config_hash="abc") as w:
        assert w.skipped
    with pytest.raises(OutputExistsError, match="--overwrite"):
        with PoseFileWriter(pose2d_file, format="finephys.pose2d", config={}, config_hash="zzz"):
            pass
    # the refusal says what differs, not only two hashes
    with pytest.raises(OutputExistsError, match=r"a: 1 -> 2; b: None -> 'x'"):
        with PoseFileWriter(pose2d_file, format="finephys.pose2d", config={"a": 2, "b": "x"},
                            config_hash="zzz"):
            pass
    with pytest.raises(OutputExistsError, match="the same settings, but"):
        with PoseFileWriter(pose2d_file, format="finephys.pose2d", config={"a": 1},
                            config_hash="zzz"):
            pass


def test_discard_on_error_removes_the_partial_but_ctrl_c_keeps_it(tmp_path):
    out = tmp_path / "o.h5"
    arrays = {"keypoints2d": np.zeros((8, 17, 2), np.float32),
              "scores": np.ones((8, 17), np.float32)}
    attrs = {"fps": 25.0, "n_frames": 8, "width": 384, "height": 384}
    for discard, error, kept in ((True, ValueError, False), (True, KeyboardInterrupt, True),
                                 (False, ValueError, True)):
        with pytest.raises(error):
            with PoseFileWriter(out, format="finephys.pose2d", config={}, config_hash="h",
                                discard_on_error=discard) as w:
                w.write_video("v", attrs, arrays)
                raise error
        assert (tmp_path / "o.h5.partial").exists() == kept, (discard, error)
        assert not out.exists() and not (tmp_path / "o.h5.lock").exists()
        (tmp_path / "o.h5.partial").unlink(missing_ok=True)
    with PoseFileWriter(out, format="finephys.pose2d", config={}, config_hash="h",
                        discard_on_error=True) as w:
        w.write_video("v", attrs, arrays)
        w.finish()
    assert out.is_file() and sorted(p.name for p in tmp_path.iterdir()) == ["o.h5"]


def test_second_writer_is_refused(tmp_path):
    out = tmp_path / "o.h5"
    with PoseFileWriter(out, format="finephys.pose2d", config={}, config_hash="h") as w:
        with pytest.raises(LockError, match="another process"):
            with PoseFileWriter(out, format="finephys.pose2d", config={}, config_hash="h"):
                pass
        w.finish()
    assert out.exists() and not (tmp_path / "o.h5.lock").exists()


def test_stale_lock_is_taken_over(tmp_path):
    import socket

    out = tmp_path / "o.h5"
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True)
    lock = tmp_path / "o.h5.lock"
    lock.write_text(f"{socket.gethostname()} {proc.stdout.strip()}")    # a dead process's
    with OutputLock(out) as held:
        assert held.held and lock.read_text() == f"{socket.gethostname()} {os.getpid()}"
    assert not lock.exists()
    lock.write_text(f"{socket.gethostname()} {os.getpid()}")            # a live one's
    with pytest.raises(LockError, match="another process"):
        OutputLock(out).acquire()


WRITER_SCRIPT = textwrap.dedent("""
    import sys, time
    import numpy as np
    from finephys_cli.io.poses_h5 import PoseFileWriter
    out, delay = sys.argv[1], float(sys.argv[2])
    with PoseFileWriter(out, format="finephys.pose2d", config={"n": 6}, config_hash="k",
                        command="test") as w:
        for i in range(6):
            vid = f"v{i}"
            if w.is_complete(vid):
                continue
            rng = np.random.default_rng(i)
            w.write_video(vid, {"n_frames": 300}, {"keypoints2d": rng.normal(size=(300, 17, 2)),
                                                  "scores": rng.uniform(size=(300, 17))})
            print(vid, flush=True)
            time.sleep(delay)
        w.finish()
""")


def _contents(path):
    with PoseFile(path) as pf:
        return {v: (pf.read(v, "keypoints2d"), pf.read(v, "scores")) for v in pf.video_ids}


def test_sigkill_mid_write_then_resume_equals_clean_run(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER_SCRIPT)
    out = tmp_path / "killed.h5"
    proc = subprocess.Popen([sys.executable, str(script), str(out), "2"], stdout=subprocess.PIPE,
                            text=True)
    for _ in range(2):
        proc.stdout.readline()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists(), "a killed run must not leave a complete-looking output"
    assert (tmp_path / "killed.h5.partial").exists()
    resumed = subprocess.run([sys.executable, str(script), str(out), "0"], capture_output=True,
                             text=True, check=True)
    # The two videos finished before the kill are not redone.
    assert resumed.stdout.split() == ["v2", "v3", "v4", "v5"]
    clean = tmp_path / "clean.h5"
    subprocess.run([sys.executable, str(script), str(clean), "0"], check=True, capture_output=True)
    a, b = _contents(out), _contents(clean)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k][0], b[k][0])
        np.testing.assert_array_equal(a[k][1], b[k][1])
    assert not (tmp_path / "killed.h5.lock").exists()


def _write_shard(path, ids, index, count, start, stop, total, chash="h"):
    from finephys_cli.io.poses_h5 import ShardInfo

    with PoseFileWriter(path, format="finephys.pose2d", config={}, config_hash=chash,
                        shard=ShardInfo(index, count, start, stop, total)) as w:
        for vid in ids:
            w.write_video(vid, {"n_frames": 2}, {"keypoints2d": np.zeros((2, 17, 2)),
                                                 "scores": np.ones((2, 17))})
        w.finish()
    return path


def test_merge_joins_and_refuses_gaps_and_overlaps(tmp_path):
    s0 = _write_shard(tmp_path / "a.h5", ["a", "b"], 0, 3, 0, 2, 5)
    s1 = _write_shard(tmp_path / "b.h5", ["c"], 1, 3, 2, 3, 5)
    s2 = _write_shard(tmp_path / "c.h5", ["d", "e"], 2, 3, 3, 5, 5)
    for shard, ids in ((s1, ["x"]), (s2, ["y", "z"])):     # lift's record of no-person videos
        with h5py.File(shard, "a") as h5:
            h5.attrs["no_person_videos"] = json.dumps(ids)
    merged = merge_files([s2, s0, s1], tmp_path / "m.h5")
    with PoseFile(merged) as pf:
        assert pf.video_ids == ["a", "b", "c", "d", "e"]
        assert json.loads(pf.attrs["no_person_videos"]) == ["x", "y", "z"]   # every shard's
    with pytest.raises(Exception, match="gap: shard"):
        merge_files([s0, s2], tmp_path / "gap.h5")
    s1b = _write_shard(tmp_path / "b2.h5", ["c", "d"], 1, 3, 2, 4, 5)
    with pytest.raises(Exception, match="overlap"):
        merge_files([s0, s1b, s2], tmp_path / "ov.h5")
    other = _write_shard(tmp_path / "o.h5", ["c"], 1, 3, 2, 3, 5, chash="other")
    with pytest.raises(Exception, match="config"):
        merge_files([s0, other, s2], tmp_path / "mix.h5")
    assert not (tmp_path / "gap.h5").exists()


def test_summarize_reports_nan_fraction(pose2d_file):
    s = summarize(pose2d_file)
    assert s["n_videos"] == 3 and s["format"] == "finephys.pose2d"
    frac = s["videos"][0]["datasets"]["keypoints2d"]["nan_fraction"]
    assert frac == pytest.approx(2 / (8 * 17 * 2))


def _write(path, inputs, values, config_hash="k"):
    """Write one video per input id whose keypoints are `values[id]`; return the ids written."""
    written = []
    with PoseFileWriter(path, format="finephys.pose2d", config={}, config_hash=config_hash,
                        inputs=inputs) as w:
        if w.skipped:
            return None
        for vid in inputs:
            if w.is_complete(vid):
                continue
            w.write_video(vid, {}, {"keypoints2d": np.full((2, 17, 2), values[vid]),
                                    "scores": np.ones((2, 17))})
            written.append(vid)
        w.finish()
    return written


def test_up_to_date_only_for_the_same_inputs(tmp_path):
    out = tmp_path / "o.h5"
    assert _write(out, {"a": "fa"}, {"a": 1.0}) == ["a"]
    assert _write(out, {"a": "fa"}, {"a": 1.0}) is None            # same inputs: skipped
    with pytest.raises(OutputExistsError, match=r"not among these inputs \(a\).*--overwrite"):
        _write(out, {"b": "fb"}, {"b": 2.0})                       # other inputs: refused
    assert _write(out, {"a": "fa", "b": "fb"}, {"a": 9.0, "b": 2.0}) == ["b"]   # added, a kept
    assert _write(out, {"a": "fa2", "b": "fb"}, {"a": 3.0, "b": 9.0}) == ["a"]  # a changed: redone
    with PoseFile(out) as pf:
        assert pf.read("a", "keypoints2d")[0, 0, 0] == 3.0
        assert pf.read("b", "keypoints2d")[0, 0, 0] == 2.0
        assert pf.attrs["complete"]
        assert pf.video_attrs("a")["input_fingerprint"] == "fa2"


def test_downstream_fingerprints_follow_the_upstream_video(tmp_path):
    from finephys_cli.io.poses_h5 import video_fingerprints

    up = tmp_path / "up.h5"
    _write(up, {"a": "fa", "b": "fb"}, {"a": 1.0, "b": 2.0})
    with PoseFile(up) as pf:
        before = video_fingerprints(pf, pf.video_ids)
    _write(up, {"a": "fa", "b": "fb2"}, {"a": 1.0, "b": 5.0})
    with PoseFile(up) as pf:
        after = video_fingerprints(pf, pf.video_ids)
    assert before["a"] == after["a"] and before["b"] != after["b"]
    # A producer without per-video fingerprints (synth) is identified by the file itself.
    bare = tmp_path / "bare.h5"
    with PoseFileWriter(bare, format="finephys.pose2d", config={}, config_hash="k") as w:
        w.write_video("a", {}, {"keypoints2d": np.zeros((2, 17, 2)), "scores": np.ones((2, 17))})
        w.finish()
    with PoseFile(bare) as pf:
        first = video_fingerprints(pf, ["a"])
    bare.unlink()
    with PoseFileWriter(bare, format="finephys.pose2d", config={}, config_hash="k") as w:
        w.write_video("a", {}, {"keypoints2d": np.ones((2, 17, 2)), "scores": np.ones((2, 17))})
        w.finish()
    with PoseFile(bare) as pf:
        assert video_fingerprints(pf, ["a"]) != first


def test_a_partial_file_warns_once_per_command(tmp_path, monkeypatch):
    """The 'N input(s) failed' warning came twice: a stage opens its input twice. A file whose
    every input failed is still read (a Slurm shard's exit 3 goes on through the chain)."""
    from finephys_cli.errors import PartialFailure

    arrays = {"keypoints2d": np.zeros((8, 17, 2), np.float32),
              "scores": np.ones((8, 17), np.float32)}

    def partial(path, ok):
        with pytest.raises(PartialFailure):
            with PoseFileWriter(path, format="finephys.pose2d", config={}, config_hash="k") as w:
                for i in range(ok):
                    w.write_video(f"ok{i}", {"fps": 25.0}, arrays)
                w.fail("bad", "unreadable video")
                w.finish()
        return path

    with PoseFile(partial(tmp_path / "none.h5", 0)) as pf:
        assert pf.video_ids == [] and list(pf.failures) == ["bad"]
    some = partial(tmp_path / "some.h5", 1)
    from finephys_cli.console import log, new_command

    warned = []
    monkeypatch.setattr(log, "warning", lambda msg, *a: warned.append(msg % a))
    for _ in range(2):
        with PoseFile(some) as pf:
            assert pf.video_ids == ["ok0"]
    assert sum("1 input(s) failed when it was made" in w for w in warned) == 1
    new_command()                                   # the next command warns again
    PoseFile(some).close()
    assert sum("1 input(s) failed when it was made" in w for w in warned) == 2
