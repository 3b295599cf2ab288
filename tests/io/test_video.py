import numpy as np
import pytest

from finephys_cli.errors import InputError
from finephys_cli.io.video import probe, read_frames, sample_indices, write_video


def _clip(t=12, h=64, w=96):
    frames = np.zeros((t, h, w, 3), dtype=np.uint8)
    for i in range(t):
        frames[i, :, : 8 * (i + 1)] = (200, 40 + 10 * i, 90)
    return frames


def test_sample_indices_uniform():
    np.testing.assert_array_equal(sample_indices(10, None), np.arange(10))
    idx = sample_indices(100, 16)
    assert len(idx) == 16 and idx[0] >= 0 and idx[-1] <= 99 and np.all(np.diff(idx) > 0)
    assert len(sample_indices(5, 16)) == 5


def test_write_read_round_trip_and_readers_agree(tmp_path):
    path = write_video(tmp_path / "c.mp4", _clip(), fps=25)
    info = probe(path)
    assert (info.n_frames, info.width, info.height) == (12, 96, 64) and info.fps == 25
    a, _ = read_frames(path, np.array([0, 5, 11]))
    assert a.shape == (3, 64, 96, 3) and a.dtype == np.uint8
    assert abs(int(a[2, 32, 90, 0]) - 200) < 12  # colour survives the codec
    c, info_c = read_frames(path, np.array([0, 5, 11]), reader="opencv")
    assert probe(path, "opencv") == info == info_c
    assert np.abs(a.astype(int) - c.astype(int)).mean() < 2.0
    with pytest.raises(InputError, match="beyond the end"):
        read_frames(path, np.array([3, 40]), reader="opencv")
    pytest.importorskip("decord")
    b, info_b = read_frames(path, np.array([0, 5, 11]), reader="decord")
    assert info_b.n_frames == 12
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 2.0


def test_corrupt_and_empty_videos_give_one_line_errors(tmp_path):
    empty = tmp_path / "e.mp4"
    empty.write_bytes(b"")
    junk = tmp_path / "j.mp4"
    junk.write_bytes(b"not a video" * 100)
    for path in (empty, junk):
        for reader in ("pyav", "opencv"):
            with pytest.raises(InputError) as exc:
                read_frames(path, reader=reader)
            assert str(path) in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("reader", ["pyav", "opencv"])
def test_stream_frames_gives_read_frames_in_chunks(tmp_path, reader):
    from finephys_cli.io.video import stream_frames

    path = write_video(tmp_path / "c.mp4", _clip(), fps=25)
    whole, _ = read_frames(path, reader=reader)
    chunks = list(stream_frames(path, None, reader, chunk=5))
    assert [len(c) for c in chunks] == [5, 5, 2]
    np.testing.assert_array_equal(np.concatenate(chunks), whole)
    idx = np.array([1, 4, 5, 11])
    picked = np.concatenate(list(stream_frames(path, idx, reader, chunk=3)))
    np.testing.assert_array_equal(picked, read_frames(path, idx, reader=reader)[0])
    with pytest.raises(InputError, match="beyond the end"):
        list(stream_frames(path, np.array([3, 40]), reader))
    with pytest.raises(InputError):
        list(stream_frames(tmp_path / "missing.mp4", None, reader))


def test_write_video_leaves_nothing_when_the_frames_fail_mid_way(tmp_path):
    def frames():
        yield from _clip(4)
        raise InputError("the source ended early")

    with pytest.raises(InputError):
        write_video(tmp_path / "o.mp4", frames())
    assert not list(tmp_path.iterdir())
