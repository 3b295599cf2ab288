import pytest

from finephys_cli.errors import InputError
from finephys_cli.io.manifest import (apply_shard, collect_inputs, parse_shard,
                                      shard_output_path)


def test_shards_cover_every_input_exactly_once():
    for n_items in (0, 1, 7, 100):
        items = list(range(n_items))
        for n in (1, 2, 3, 8):
            got = []
            for i in range(n):
                part, info = apply_shard(items, (i, n))
                assert info.start <= info.stop and info.total == n_items
                got += part
            assert got == items


def test_parse_shard_validates():
    assert parse_shard("2/8") == (2, 8)
    assert parse_shard(None) is None
    for bad in ("8/8", "x", "1/0", "-1/3"):
        with pytest.raises(InputError):
            parse_shard(bad)


def test_shard_output_path(tmp_path):
    assert shard_output_path(tmp_path / "o.h5", (1, 4)).name == "o.shard-1-of-4.h5"
    assert shard_output_path(tmp_path / "o.h5", None).name == "o.h5"


def test_folder_and_manifests(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for p in ("a/x.mp4", "b/x.mp4", "a/y.mp4", "a/notes.md"):
        (tmp_path / p).write_bytes(b"0")
    items = collect_inputs([tmp_path])
    assert [i.video_id for i in items] == ["a__x", "y", "b__x"]
    txt = tmp_path / "list.txt"
    txt.write_text("a/y.mp4\n# comment\nb/x.mp4\n")
    assert [i.path.name for i in collect_inputs([txt])] == ["y.mp4", "x.mp4"]
    csvf = tmp_path / "list.csv"
    csvf.write_text("path,label\na/x.mp4,1\n")
    assert len(collect_inputs([csvf])) == 1


def test_manifest_with_missing_paths_is_refused(tmp_path):
    txt = tmp_path / "list.txt"
    txt.write_text("nope.mp4\n")
    with pytest.raises(InputError, match="not found: .*nope.mp4"):
        collect_inputs([txt])
    with pytest.raises(InputError, match="no input files"):
        collect_inputs([tmp_path])


def test_a_pose_file_given_as_video_input_is_named_as_such(tmp_path):
    """detect on a pose file printed a raw decoder errno three times and wrote an empty file."""
    pose = tmp_path / "synth.h5"
    pose.write_bytes(b"\x89HDF\r\n\x1a\n")
    with pytest.raises(InputError, match="synth.h5 is an HDF5 file"):
        collect_inputs([pose])
