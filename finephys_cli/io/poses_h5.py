"""The finephys HDF5 pose file, schema 1.0: writer, reader, validation, merge.

One writer class serves every stage: it writes to `OUT.partial` under a lock, marks each video
group `complete` as it finishes (so a killed run resumes), and commits with `os.replace`. An
output is up to date only for the config *and* the inputs it was made from: each video group
records its input's fingerprint, and the root the digest of them all.

It also holds the one per-input failure policy of the batch stages: an input that fails is
recorded under `failures/<id>` (its source and a one-line reason) and skipped, the rest is
written, and the file is committed *not complete*, so the next run with the same config
retries exactly the failed and missing inputs; `finish()` then raises PartialFailure (exit 3).
Readers take such a file with a warning naming its failures.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .. import __version__
from ..console import interrupted, log, warn_once
from ..errors import (FinephysError, InputError, OutputExistsError, PartialFailure,
                      ResourceError, SchemaError)
from .shards import ShardInfo, apply_shard
from ..skeleton import SKELETONS
from .atomic import OutputLock, commit, partial_path
from .fingerprint import combine, file_fingerprint, inputs_hash

FORMAT_VERSION = "1.0"
FORMATS = ("finephys.pose2d", "finephys.pose3d", "finephys.phys", "finephys.heatmaps",
           "finephys.synth", "finephys.clips")
# A synth file is a pose2d file with ground truth added, so 2D consumers take both.
POSE2D_FORMATS = ("finephys.pose2d", "finephys.synth")

_FRAME_J_XY = (["frame", "joint", "xy"], "px")
_FRAME_J_XYZ_M = (["frame", "joint", "xyz"], "m")
# The one registry of dataset dims and units; a writer may add others explicitly.
DATASET_SPECS: dict[str, tuple[list[str], str]] = {
    "keypoints2d": _FRAME_J_XY,
    "keypoints2d_exact": _FRAME_J_XY,
    "scores": (["frame", "joint"], "1"),
    "bbox": (["frame", "x1y1x2y2s"], "px,px,px,px,1"),
    "keypoints2d_coco": (["frame", "joint", "xys"], "px,px,1"),
    "interpolated": (["frame", "joint"], "bool"),
    "rotation_spread": (["frame", "joint"], "px"),
    "world_landmarks": (["frame", "landmark", "xyz"], "m"),
    "pose3d_world": _FRAME_J_XYZ_M,
    "pose3d_camera": _FRAME_J_XYZ_M,
    "camera_K": (["row", "col"], "px"),
    "camera_R": (["frame", "row", "col"], "1"),
    "camera_t": (["frame", "xyz"], "m"),
    "foot_contact": (["frame", "side_rl"], "bool"),
    "com_world": (["frame", "xyz"], "m"),
    "pose3d_dd": (["frame", "joint", "xyz"], "normalised"),
    "pose3d_pp": (["frame", "joint", "xyz"], "normalised"),
    "pose3d_fused": (["frame", "joint", "xyz"], "normalised"),
    "pose3d_mlp": (["frame", "joint", "xyz"], "normalised"),
    "pose2d_fused": _FRAME_J_XY,
    "root2d": (["frame", "xy"], "px"),
    "scale": ([], "px"),
    "noise_fro": (["frame"], "1"),
    "minv_eig_min": (["frame"], "1"),
    "crop_box": (["x0y0side"], "px"),
    "frames": (["frame", "y", "x", "rgb"], "uint8"),
}
CHUNK_FRAMES = 256
# HDF5 1.8+ object headers: attributes over 64 KiB (a 15,000-frame video's frame_indices) are
# stored densely instead of failing with "object header message is too large".
LIBVER = ("v108", "v110")
FAILURES = "failures"       # root group: one subgroup per failed input (attrs source, reason)


def spec_for(name: str) -> tuple[list[str], str]:
    if name.startswith("heatmaps/"):
        return (["frame", "channel", "y", "x"], "1")
    if name not in DATASET_SPECS:
        raise KeyError(f"dataset {name!r} has no registered dims/units; pass them explicitly")
    return DATASET_SPECS[name]


def _now() -> str:
    """UTC now, or SOURCE_DATE_EPOCH when set, so seeded outputs can be bit-identical."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (_dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc) if epoch
            else _dt.datetime.now(_dt.timezone.utc))
    return when.isoformat(timespec="seconds")


def _json_attr(value: Any) -> Any:
    if isinstance(value, (dict, list, tuple)) and not isinstance(value, np.ndarray):
        return json.dumps(value, default=str)
    if value is None:
        return ""
    if isinstance(value, Path):
        return str(value)
    return value


def _is_interrupt(exc_type: object) -> bool:
    return (isinstance(exc_type, type) and issubclass(exc_type, KeyboardInterrupt)) \
        or interrupted()


class PoseFileWriter:
    """Write a finephys file atomically and resumably.

    Usage::

        with PoseFileWriter(out, format="finephys.pose2d", config=cfg_dict, ...) as w:
            if w.skipped: ...
            for vid in ids:
                if w.is_complete(vid): continue
                w.write_video(vid, attrs, {"keypoints2d": kp, ...})
            w.finish()

    `inputs` maps each video id to its input's fingerprint. With it, a finished output is
    skipped only when it was made from exactly these inputs; an input that changed is redone,
    one that is new is added, and an output holding videos of other inputs is refused. Without
    it (a stage whose only input is its config, like `synth`) the config alone decides.
    """

    def __init__(self, path: Path, *, format: str, config: Mapping[str, Any], config_hash: str,
                 command: str | None = None, skeleton: str = "h36m17",
                 provenance: Iterable[Path] = (), overwrite: bool = False,
                 shard: ShardInfo | None = None, root_attrs: Mapping[str, Any] | None = None,
                 inputs: Mapping[str, str] | None = None, discard_on_error: bool = False):
        if format not in FORMATS:
            raise ValueError(f"unknown format {format!r}")
        self.path = Path(path)
        self.partial = partial_path(self.path)
        self.format = format
        self.config = dict(config)
        self.config_hash = config_hash
        self.command = command if command is not None else " ".join(["finephys", *sys.argv[1:]])
        self.skeleton = skeleton
        self.provenance = [Path(p) for p in provenance]
        self.overwrite = overwrite
        self.shard = shard
        self.root_attrs = dict(root_attrs or {})
        self.inputs = dict(inputs) if inputs is not None else None
        # An error in the body removes OUT.partial instead of keeping it to resume from (for
        # a stage whose outputs are cheap to make again from its config); Ctrl-C keeps it.
        self.discard_on_error = discard_on_error
        self.lock = OutputLock(self.path)
        self.skipped = False
        self.resumed_videos = 0
        self.failures: dict[str, tuple[str, str]] = {}   # video id -> (source, reason)
        self._h5: h5py.File | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> "PoseFileWriter":
        reopen = False
        if self.path.exists() and not self.overwrite:
            found = _peek(self.path)
            if found.config_hash != self.config_hash:
                raise OutputExistsError(
                    f"{self.path} exists with another config ("
                    f"{config_difference(found.config, self.config)}; key "
                    f"{found.config_hash} != {self.config_hash}); use --overwrite to replace it")
            if self.inputs is not None:
                foreign = sorted(set(found.video_ids) - set(self.inputs))
                if foreign:
                    shown = ", ".join(foreign[:3]) + (f" (+{len(foreign) - 3} more)"
                                                      if len(foreign) > 3 else "")
                    raise OutputExistsError(
                        f"{self.path} holds {len(foreign)} video(s) that are not among these "
                        f"inputs ({shown}); use --overwrite to replace it, or another output")
            if found.complete and (self.inputs is None
                                   or found.inputs_hash == inputs_hash(self.inputs)):
                log.info("%s is up to date (config %s); use --overwrite to redo it",
                         self.path, self.config_hash)
                self.skipped = True
                return self
            reopen = True
        self.lock.acquire()
        try:
            if reopen and not self.partial.exists():
                # Same config, changed or added inputs: resume from the finished file, so the
                # videos whose input is unchanged are kept and only the rest is redone.
                log.info("%s: inputs changed or added; redoing only those", self.path)
                shutil.copyfile(self.path, self.partial)
            self._open_partial()
        except BaseException:
            self.lock.release()
            raise
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        opened = self._h5 is not None
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None
        if opened and exc_type is not None and self.discard_on_error \
                and not _is_interrupt(exc_type):
            self.partial.unlink(missing_ok=True)
        self.lock.release()

    def _open_partial(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.partial.exists():
            try:
                h5 = h5py.File(self.partial, "a", libver=LIBVER)
                same = (h5.attrs.get("config_hash") == self.config_hash
                        and h5.attrs.get("format") == self.format)
                if same:
                    for vid in list(h5.get("videos", {})):
                        if not self._still_valid(h5["videos"][vid], vid):
                            del h5["videos"][vid]
                    self._write_inputs_attrs(h5)
                    h5.attrs["complete"] = False
                    if FAILURES in h5:   # a recorded failure is retried, not kept
                        retried = len(h5[FAILURES])
                        del h5[FAILURES]
                        log.info("retrying %d input(s) that failed last time", retried)
                    h5.attrs["n_failed"] = 0
                    self.resumed_videos = len(h5.get("videos", {}))
                    log.info("resuming %s: %d video(s) already done", self.partial,
                             self.resumed_videos)
                    self._h5 = h5
                    return
                h5.close()
                log.warning("%s was written with another config; starting over", self.partial)
            except OSError:
                log.warning("%s is unreadable (killed mid-write?); starting over", self.partial)
            self.partial.unlink()
        h5 = h5py.File(self.partial, "w", libver=LIBVER)
        attrs = {
            "format": self.format, "format_version": FORMAT_VERSION,
            "finephys_version": __version__, "created_utc": _now(), "command": self.command,
            "config_json": json.dumps(self.config, sort_keys=True, default=str),
            "config_hash": self.config_hash, "complete": False,
        }
        if self.shard is not None:
            attrs.update(shard_index=self.shard.index, shard_count=self.shard.count,
                         shard_start=self.shard.start, shard_stop=self.shard.stop,
                         shard_total=self.shard.total)
        attrs.update(self.root_attrs)
        for k, v in attrs.items():
            h5.attrs[k] = _json_attr(v)
        self._write_inputs_attrs(h5)
        _write_skeleton(h5, self.skeleton)
        prov = h5.create_group("provenance")
        for i, up in enumerate(self.provenance):
            g = prov.create_group(f"{i:03d}")
            g.attrs["path"] = str(up)
            try:
                with h5py.File(up, "r") as src:
                    for key in ("format", "format_version", "config_hash"):
                        g.attrs[key] = src.attrs.get(key, "")
            except OSError:
                g.attrs["format"] = "external"
        h5.create_group("videos")
        h5.flush()
        self._h5 = h5

    def _still_valid(self, group: h5py.Group, video_id: str) -> bool:
        """A video group finished, and made from the input that is there now."""
        if not bool(group.attrs.get("complete", False)):
            return False
        if self.inputs is None:
            return True
        return video_id in self.inputs and input_fingerprint(group) == self.inputs[video_id]

    def _write_inputs_attrs(self, h5: h5py.File) -> None:
        if self.inputs is not None:
            h5.attrs["inputs_hash"] = inputs_hash(self.inputs)
            h5.attrs["n_inputs"] = len(self.inputs)

    # -- writing ---------------------------------------------------------------------------
    @property
    def h5(self) -> h5py.File:
        assert self._h5 is not None, "writer is not open"
        return self._h5

    def is_complete(self, video_id: str) -> bool:
        g = self.h5["videos"].get(video_id)
        return g is not None and self._still_valid(g, video_id)

    def write_video(self, video_id: str, attrs: Mapping[str, Any],
                    arrays: Mapping[str, np.ndarray],
                    specs: Mapping[str, tuple[list[str], str]] | None = None) -> None:
        """Write one video group, then flag it complete and flush (the resume point)."""
        videos = self.h5["videos"]
        if video_id in videos:
            del videos[video_id]
        g = videos.create_group(video_id)
        for k, v in attrs.items():
            g.attrs[k] = _json_attr(v)
        if self.inputs is not None and video_id in self.inputs:
            g.attrs["input_fingerprint"] = self.inputs[video_id]
        for name, arr in arrays.items():
            dims, units = (specs or {}).get(name) or spec_for(name)
            write_dataset(g, name, np.asarray(arr), dims, units)
        g.attrs["complete"] = True
        self.h5.flush()

    def fail(self, video_id: str, reason: str, source: str = "") -> None:
        """Record that an input failed (one line of reason); it is skipped and retried by the
        next run. Any half-written group of it is dropped."""
        reason = " ".join(str(reason).split()) or "failed"
        videos = self.h5["videos"]
        if video_id in videos:
            del videos[video_id]
        group = self.h5.require_group(FAILURES)
        if video_id in group:
            del group[video_id]
        g = group.create_group(video_id)
        g.attrs.update(source=source or video_id, reason=reason, failed_utc=_now())
        if self.inputs is not None and video_id in self.inputs:
            g.attrs["input_fingerprint"] = self.inputs[video_id]
        self.failures[video_id] = (source or video_id, reason)
        self.h5.flush()
        log.warning("%s: %s", source or video_id, reason)

    @contextmanager
    def guard(self, video_id: str, source: str = "", fail_fast: bool = False) -> Iterator[None]:
        """Process one input: an error that belongs to the input (an InputError from a reader,
        or the ValueError/KeyError/IndexError/TypeError of malformed data) is recorded with
        `fail` and the batch goes on; with `fail_fast` it stops the batch. An OSError is not
        the input's (a full disk, a broken output): it stops the batch with one line."""
        try:
            yield
        except ResourceError:
            raise
        except (FinephysError, ValueError, KeyError, IndexError, TypeError, EOFError) as exc:
            if fail_fast:
                raise
            text = str(exc) if isinstance(exc, FinephysError) else \
                f"{type(exc).__name__}: {exc}"
            self.fail(video_id, text, source)

    def finish(self) -> Path:
        """Move the file into place: complete when no input failed; otherwise marked
        incomplete with its failures, and PartialFailure raised (exit 3) after the commit."""
        self.h5.attrs["complete"] = not self.failures
        self.h5.attrs["n_failed"] = len(self.failures)
        self.h5.attrs["finished_utc"] = _now()
        self.h5.close()
        self._h5 = None
        commit(self.partial, self.path)
        if self.failures:
            raise PartialFailure({src: why for src, why in self.failures.values()},
                                 output=str(self.path))
        return self.path


def write_dataset(group: h5py.Group, name: str, arr: np.ndarray, dims: list[str],
                  units: str) -> h5py.Dataset:
    kwargs: dict[str, Any] = {}
    if arr.ndim >= 1 and arr.size > 0:
        # Image-like arrays (heatmaps) are chunked per frame and use gzip level 1: level 4
        # halves the write speed (32 vs 15 ms per 384² frame) for 25% smaller files.
        image_like = arr.ndim >= 4
        frames = 1 if image_like else min(arr.shape[0], CHUNK_FRAMES)
        kwargs = dict(compression="gzip", compression_opts=1 if image_like else 4, shuffle=True,
                      chunks=(frames,) + tuple(arr.shape[1:]))
    ds = group.create_dataset(name, data=arr, track_times=False, **kwargs)
    ds.attrs["dims"] = json.dumps(dims)
    ds.attrs["units"] = units
    return ds


def _write_skeleton(h5: h5py.File, name: str) -> None:
    sk = SKELETONS[name]
    g = h5.create_group("skeleton")
    g.attrs["name"] = name
    g.create_dataset("node_names", data=np.array(sk["names"], dtype=h5py.string_dtype()))
    g.create_dataset("edges", data=np.array(sk["edges"], dtype=np.int32).reshape(-1, 2))
    g.create_dataset("parents", data=np.array(sk["parents"], dtype=np.int32))


@dataclass
class _Existing:
    config_hash: str
    complete: bool
    inputs_hash: str
    video_ids: list[str]
    config: dict | None = None       # its config_json, decoded


NO_PERSON = "no_person_videos"     # root attr: ids left out because no person was in them


def skip_no_person(writer: "PoseFileWriter", source: Path, video_id: str) -> None:
    """Leave a video with no person in any frame out of a lift/physnet output: not a failure
    (it would fail again on every rerun), listed in the file's `no_person_videos` attr."""
    log.warning("%s:%s: no person in any frame; left out of %s", source, video_id,
                writer.path)
    listed = _decode_attr(writer.h5.attrs.get(NO_PERSON, "[]"))
    writer.h5.attrs[NO_PERSON] = json.dumps(sorted(set(listed) | {video_id}))


def config_difference(stored: dict | None, config: dict) -> str:
    """What differs between a stored (decoded) config_json and a new config, for the refusal
    message: "key: old -> new; ..." (at most 4), or what else the key holds when the settings
    agree."""
    stored = stored if isinstance(stored, dict) else {}
    new = json.loads(json.dumps(config, sort_keys=True, default=str))
    keys = sorted(k for k in set(stored) | set(new) if stored.get(k) != new.get(k))
    if not keys:
        return ("the same settings, but what the key also holds changed (a model's weights, "
                "an input folder)")
    shown = "; ".join(f"{k}: {stored.get(k)!r} -> {new.get(k)!r}" for k in keys[:4])
    return shown + (f" (+{len(keys) - 4} more)" if len(keys) > 4 else "")


def _peek(path: Path) -> _Existing:
    try:
        with h5py.File(path, "r") as h5:
            return _Existing(str(h5.attrs.get("config_hash", "")),
                             bool(h5.attrs.get("complete", False)),
                             str(_decode_attr(h5.attrs.get("inputs_hash", ""))),
                             sorted(h5.get("videos", {})),
                             _decode_attr(h5.attrs.get("config_json", "{}")))
    except OSError as exc:
        raise InputError(f"{path}: not a readable HDF5 file ({exc})") from exc


def read_failures(h5: h5py.File) -> dict[str, dict[str, str]]:
    """The failure record of a file: video id -> {source, reason, failed_utc}."""
    return {vid: {k: str(_decode_attr(v)) for k, v in g.attrs.items()}
            for vid, g in sorted(h5.get(FAILURES, {}).items())}


def input_fingerprint(group: h5py.Group) -> str:
    """What a video group was made from ("" where its writer recorded nothing)."""
    return str(_decode_attr(group.attrs.get("input_fingerprint", "")))


def video_fingerprints(pf: "PoseFile", video_ids: Iterable[str]) -> dict[str, str]:
    """Per video of an input pose file: what a downstream output of it was made from. That is
    the producing file's format and config and the video's own input fingerprint; where the
    producer recorded none (synth, whose input is its config, or an older file), the file's."""
    whole: str | None = None
    out: dict[str, str] = {}
    for vid in video_ids:
        upstream = input_fingerprint(pf.h5["videos"][vid])
        if not upstream:
            whole = whole or file_fingerprint(pf.path)
            upstream = whole
        out[vid] = combine(pf.format, pf.config_hash, vid, upstream)
    return out


# -- reading ---------------------------------------------------------------------------------
# Migrations from older minor versions of the current major: version -> {old name: new name}.
MIGRATIONS: dict[str, dict[str, str]] = {}


def parse_version(text: str) -> tuple[int, int]:
    try:
        major, minor = (int(x) for x in str(text).split(".")[:2])
    except ValueError as exc:
        raise SchemaError(f"bad format_version {text!r}") from exc
    return major, minor


class PoseFile:
    """A validated, read-only finephys file."""

    def __init__(self, path: Path, *, formats: Iterable[str] | None = None,
                 skeleton: str | None = "h36m17", require_complete: bool = True):
        self.path = Path(path)
        if not self.path.exists():
            raise InputError(f"{self.path}: no such file")
        try:
            self.h5 = h5py.File(self.path, "r")
        except OSError as exc:
            raise SchemaError(f"{self.path}: not an HDF5 file ({exc})") from exc
        try:
            self._validate(formats, skeleton, require_complete)
        except BaseException:
            self.h5.close()
            raise

    def _validate(self, formats: Iterable[str] | None, skeleton: str | None,
                  require_complete: bool) -> None:
        a = self.h5.attrs
        fmt = str(a.get("format", ""))
        if not fmt.startswith("finephys."):
            raise SchemaError(f"{self.path}: not a finephys file (format={fmt or 'missing'})")
        wanted = tuple(formats) if formats else None
        if wanted and fmt not in wanted:
            raise SchemaError(f"{self.path}: format {fmt}, expected {' or '.join(wanted)}")
        version = str(a.get("format_version", ""))
        major, minor = parse_version(version)
        cur_major, cur_minor = parse_version(FORMAT_VERSION)
        if major != cur_major:
            raise SchemaError(f"{self.path}: format_version {version} is not readable by "
                              f"finephys {__version__} (reads {cur_major}.x)")
        if minor > cur_minor:
            log.warning("%s: format_version %s is newer than %s; reading known fields only",
                        self.path, version, FORMAT_VERSION)
        self.renames = MIGRATIONS.get(version, {})
        self.failures = read_failures(self.h5)
        if require_complete and not bool(a.get("complete", False)):
            if not self.failures:
                raise SchemaError(f"{self.path}: incomplete file (an interrupted run?)")
            names = ", ".join(sorted(self.failures)[:3]) + \
                (f" (+{len(self.failures) - 3} more)" if len(self.failures) > 3 else "")
            # (a file whose every input failed is read too, with no videos: a Slurm shard's
            # exit 3 goes on through the chain)
            others = len(self.h5.get("videos", {}))
            warn_once(("partial input", str(Path(self.path).resolve())),
                      "%s: %d input(s) failed when it was made (%s); using the %d others. "
                      "Rerun the command that made it to retry them", self.path,
                      len(self.failures), names, others)
        if skeleton is not None and "skeleton" in self.h5:
            name = str(self.h5["skeleton"].attrs.get("name", ""))
            if name != skeleton:
                raise SchemaError(f"{self.path}: skeleton {name}, expected {skeleton}")
        self.format = fmt
        self.version = version

    def __enter__(self) -> "PoseFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.h5.close()

    @property
    def attrs(self) -> dict[str, Any]:
        return dict(self.h5.attrs)

    @property
    def config(self) -> dict[str, Any]:
        return json.loads(self.h5.attrs.get("config_json", "{}"))

    @property
    def config_hash(self) -> str:
        return str(self.h5.attrs.get("config_hash", ""))

    @property
    def video_ids(self) -> list[str]:
        return sorted(self.h5.get("videos", {}))

    def video_attrs(self, video_id: str) -> dict[str, Any]:
        return {k: _decode_attr(v) for k, v in self.h5["videos"][video_id].attrs.items()}

    def _name(self, name: str) -> str:
        return self.renames.get(name, name)

    def has(self, video_id: str, name: str) -> bool:
        return self._name(name) in self.h5["videos"][video_id]

    def read(self, video_id: str, name: str) -> np.ndarray:
        g = self.h5["videos"][video_id]
        key = self._name(name)
        if key not in g:
            raise SchemaError(f"{self.path}: video {video_id} has no dataset {name!r}")
        return g[key][()]

    def datasets(self, video_id: str) -> list[str]:
        out: list[str] = []
        self.h5["videos"][video_id].visit(
            lambda n: out.append(n) if isinstance(self.h5["videos"][video_id][n], h5py.Dataset)
            else None)
        return out


def _decode_attr(v: Any) -> Any:
    if isinstance(v, bytes):
        v = v.decode()
    if isinstance(v, str) and v[:1] in "[{":
        try:
            return json.loads(v)
        except json.JSONDecodeError:
            return v
    if isinstance(v, np.generic):
        return v.item()
    return v


def carry_video_attrs(pf: PoseFile, vid: str, output: Path) -> dict:
    """A video's attrs for a downstream file, with `source_path` re-based on its folder."""
    attrs = {k: v for k, v in pf.video_attrs(vid).items() if k != "complete"}
    src = attrs.get("source_path")
    if src and not Path(src).is_absolute():
        absolute = (pf.path.parent / src).resolve()
        try:
            attrs["source_path"] = os.path.relpath(absolute, Path(output).resolve().parent)
        except ValueError:
            attrs["source_path"] = str(absolute)
    return attrs


def summarize(path: Path) -> dict[str, Any]:
    """A JSON-able summary of any finephys HDF5 file (for `inspect`)."""
    with PoseFile(path, skeleton=None, require_complete=False) as pf:
        a = pf.attrs
        videos = []
        for vid in pf.video_ids:
            g = pf.h5["videos"][vid]
            entry: dict[str, Any] = {"id": vid, "complete": bool(g.attrs.get("complete", False)),
                                     "label": _decode_attr(g.attrs.get("label", "")),
                                     "datasets": {}}
            for name in pf.datasets(vid):
                ds = g[name]
                info: dict[str, Any] = {"shape": list(ds.shape), "dtype": str(ds.dtype),
                                        "units": _decode_attr(ds.attrs.get("units", ""))}
                if ds.dtype.kind == "f" and ds.size:
                    data = ds[()]
                    info["nan_fraction"] = float(np.isnan(data).mean())
                entry["datasets"][name] = info
            videos.append(entry)
        prov = [{k: _decode_attr(v) for k, v in g.attrs.items()}
                for _, g in sorted(pf.h5.get("provenance", {}).items())]
        skel = str(pf.h5["skeleton"].attrs.get("name", "")) if "skeleton" in pf.h5 else ""
        return {
            "path": str(path), "format": pf.format, "format_version": pf.version,
            "finephys_version": _decode_attr(a.get("finephys_version", "")),
            "created_utc": _decode_attr(a.get("created_utc", "")),
            "command": _decode_attr(a.get("command", "")),
            "config_hash": pf.config_hash, "complete": bool(a.get("complete", False)),
            "skeleton": skel, "n_videos": len(videos),
            "n_frames": int(sum(int(pf.h5["videos"][v["id"]].attrs.get("n_frames", 0))
                                for v in videos)),
            "videos": videos, "provenance": prov,
            "failures": [{"id": vid, **rec} for vid, rec in pf.failures.items()],
        }


def copy_video_group(src: PoseFile, video_id: str, writer: PoseFileWriter) -> None:
    """Copy one complete video group as is (used by merge)."""
    src.h5.copy(src.h5["videos"][video_id], writer.h5["videos"], name=video_id)
    writer.h5.flush()


def merge_files(shards: list[Path], output: Path, *, overwrite: bool = False) -> Path:
    """Join `--shard I/N` outputs; refuse mixed configs, overlapping ids, duplicates and gaps."""
    if not shards:
        raise InputError("merge: no input files")
    files = [PoseFile(p, skeleton=None) for p in shards]
    try:
        first = files[0]
        fmt, chash = first.format, first.config_hash
        counts = set()
        ranges = []
        for pf in files:
            if pf.format != fmt or pf.config_hash != chash:
                raise InputError(f"merge: {pf.path} has format/config {pf.format}/"
                                 f"{pf.config_hash}, expected {fmt}/{chash}")
            a = pf.attrs
            if "shard_count" in a:
                counts.add((int(a["shard_count"]), int(a["shard_total"])))
                ranges.append((int(a["shard_start"]), int(a["shard_stop"]), int(a["shard_index"]),
                               pf.path))
        if ranges:
            if len(counts) != 1 or len(ranges) != len(files):
                raise InputError("merge: the inputs come from different shardings "
                                 "(or mix sharded and unsharded files)")
            (count, total), = counts
            ranges.sort()
            indices = [r[2] for r in ranges]
            if len(set(indices)) != len(indices):
                raise InputError(f"merge: shard index repeated: {sorted(indices)}")
            missing = sorted(set(range(count)) - set(indices))
            if missing:
                raise InputError(f"merge: gap: shard(s) {', '.join(map(str, missing))} of "
                                 f"{count} missing")
            pos = 0
            for start, stop, idx, path in ranges:
                if start != pos:
                    kind = "gap" if start > pos else "overlap"
                    raise InputError(f"merge: {kind} at input {pos} (shard {idx}, {path})")
                pos = stop
            if pos != total:
                raise InputError(f"merge: gap: inputs {pos}..{total - 1} are in no shard")
        seen: dict[str, Path] = {}
        fingerprints: dict[str, str] = {}
        for pf in files:
            for vid in pf.video_ids:
                if vid in seen:
                    raise InputError(f"merge: video {vid} is in both {seen[vid]} and {pf.path}")
                seen[vid] = pf.path
                fingerprints[vid] = input_fingerprint(pf.h5["videos"][vid])
        # The merged file was made from its shards' inputs, so it is up to date exactly when a
        # single run over all of them would be.
        merged_inputs = fingerprints if all(fingerprints.values()) else None
        skel = str(first.h5["skeleton"].attrs.get("name", "h36m17"))
        root_keep = {k: _decode_attr(v) for k, v in first.attrs.items()
                     if k not in ("format", "format_version", "finephys_version", "created_utc",
                                  "command", "config_json", "config_hash", "complete",
                                  "finished_utc", "inputs_hash", "n_inputs", "n_failed",
                                  NO_PERSON)
                     and not k.startswith("shard_")}
        no_person = sorted({v for pf in files
                            for v in _decode_attr(pf.attrs.get(NO_PERSON, "[]"))})
        with PoseFileWriter(output, format=fmt, config=first.config, config_hash=chash,
                            skeleton=skel, provenance=[pf.path for pf in files],
                            overwrite=overwrite, root_attrs=root_keep,
                            inputs=merged_inputs) as w:
            if w.skipped:
                return output
            if no_person:                     # every shard's, not the first one's
                w.h5.attrs[NO_PERSON] = json.dumps(no_person)
            for pf in files:
                for vid in pf.video_ids:
                    if not w.is_complete(vid):
                        copy_video_group(pf, vid, w)
                for vid, rec in pf.failures.items():   # carried: the merge is not complete
                    w.fail(vid, rec.get("reason", "failed"), rec.get("source", vid))
            w.finish()
        return output
    finally:
        for pf in files:
            pf.close()


def shard_video_ids(path: Path, formats: Iterable[str], shard: tuple[int, int] | None
                    ) -> tuple[list[str], Any]:
    """The video ids of a pose file that `--shard I/N` gives this task, and the shard info the
    writer records (so `merge` can check coverage)."""
    with PoseFile(path, formats=formats) as pf:
        ids = pf.video_ids
    return apply_shard(ids, shard)
