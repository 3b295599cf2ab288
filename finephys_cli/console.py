"""One stderr console, logging setup and the progress factory.

Stdout is reserved for the paths a command writes; everything else goes here.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.logging import RichHandler

console = Console(stderr=True, highlight=False)
# Reports (env, models, inspect, eval-poses, study collect): their stdout is their output, so
# `finephys env > env.txt` and `finephys models | grep lifter` work. Logs stay on `console`.
report = Console(highlight=False)
log = logging.getLogger("finephys")

_WARNED: set = set()


def warn_once(key, msg: str, *args) -> None:
    """log.warning, once per key within one command (a stage may open the same file twice)."""
    if key not in _WARNED:
        _WARNED.add(key)
        log.warning(msg, *args)


def new_command() -> None:
    """Forget warn_once's keys: each command (also several in one process) warns afresh."""
    _WARNED.clear()


PROGRESS_MODES = ("auto", "rich", "plain", "json", "none")
_state = {"verbosity": 0}

T = TypeVar("T")


def setup_logging(verbosity: int) -> None:
    """verbosity: -1 quiet, 0 info, 1 debug, 2 debug with tracebacks."""
    _state["verbosity"] = verbosity
    level = logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG
    log.handlers.clear()
    handler = RichHandler(console=console, show_time=False, show_path=False, markup=False)
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False
    quiet_third_party(verbosity)


# Set by the user before finephys started: theirs to keep.
_USER_SET = {v for v in ("DIFFUSERS_VERBOSITY", "TRANSFORMERS_VERBOSITY",
                         "HF_HUB_DISABLE_PROGRESS_BARS", "YOLO_VERBOSE") if v in os.environ}


def quiet_third_party(verbosity: int) -> None:
    """Ultralytics', diffusers', transformers' and the hub's own messages and bars (the settings
    banner, weights loading, float32 notes, LoRA keys for a text encoder we never adapt) only
    with -v: a user reads them as faults. Through their env vars, read at import, and directly
    where already imported."""
    loud = verbosity >= 1
    wanted = {"DIFFUSERS_VERBOSITY": "info" if loud else "error",
              "TRANSFORMERS_VERBOSITY": "info" if loud else "error",
              "HF_HUB_DISABLE_PROGRESS_BARS": "0" if loud else "1",
              "YOLO_VERBOSE": "True" if loud else "False"}
    for var, value in wanted.items():
        if var not in _USER_SET:
            os.environ[var] = value
    level = logging.INFO if loud else logging.ERROR
    for name in ("diffusers", "transformers"):
        module = sys.modules.get(f"{name}.utils.logging")
        if module is not None and f"{name.upper()}_VERBOSITY" not in _USER_SET:
            module.set_verbosity(level)
            (module.enable_progress_bar if loud else module.disable_progress_bar)()
    if "ultralytics" in sys.modules and "YOLO_VERBOSE" not in _USER_SET:
        logging.getLogger("ultralytics").setLevel(logging.INFO if loud else logging.ERROR)


def verbosity() -> int:
    return _state["verbosity"]


def resolve_progress_mode(mode: str) -> str:
    if mode not in PROGRESS_MODES:
        from .errors import UsageError

        raise UsageError(f"--progress must be one of {', '.join(PROGRESS_MODES)}, got {mode!r}")
    if mode == "auto":
        if _state["verbosity"] < 0:
            return "none"
        return "rich" if sys.stderr.isatty() else "plain"
    return mode


_interrupted = False


def _checked(items: Iterable[T]) -> Iterator[T]:
    for item in items:
        check_interrupted()
        yield item


def _on_sigint(signum, frame) -> None:
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def install_interrupt_flag() -> None:
    """Ctrl-C raises KeyboardInterrupt as usual and is also remembered, so that an interrupt
    that lands inside a library and is swallowed there (or turned into another exception: an
    import interrupted in Python 3.11 can raise "RuntimeError: Error calling __set_name__")
    still stops the command at its next step (`check_interrupted`). Only where SIGINT is not
    ignored (a background job keeps ignoring it)."""
    import signal

    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)


def interrupted() -> bool:
    return _interrupted


def check_interrupted() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed since the command started."""
    if _interrupted:
        raise KeyboardInterrupt


def track(items: Iterable[T], *, total: int | None = None, description: str = "",
          unit: str = "item", mode: str = "auto") -> Iterator[T]:
    """Iterate with progress on stderr: a rich bar, plain lines (Slurm logs), JSON lines or
    nothing. Each step first checks for a swallowed Ctrl-C (`check_interrupted`)."""
    mode = resolve_progress_mode(mode)
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = None
    items = _checked(items)
    if mode == "none":
        yield from items
        return
    if mode == "rich":
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn(f"{unit}s"), TimeElapsedColumn(), TimeRemainingColumn(),
                      console=console, transient=False) as bar:
            task = bar.add_task(description, total=total)
            for item in items:
                yield item
                bar.advance(task)
        return
    start = time.monotonic()
    last_print = -1.0
    done = 0
    for item in items:
        yield item
        done += 1
        now = time.monotonic() - start
        final = total is not None and done == total
        if not final and now - last_print < 5.0 and done != 1:
            continue
        last_print = now
        rate = done / now if now > 0 else 0.0
        if mode == "json":
            print(json.dumps({"event": "progress", "task": description, "done": done,
                              "total": total, "elapsed_s": round(now, 3),
                              "rate": round(rate, 3), "unit": unit}), file=sys.stderr, flush=True)
        else:
            of = f"/{total}" if total is not None else ""
            print(f"{description}: {done}{of} {unit}s ({rate:.2f} {unit}/s, {now:.1f}s)",
                  file=sys.stderr, flush=True)


class native_output_to_debug_log:
    """Capture what C extensions write to file descriptors 1 and 2 for a while (pybullet
    prints its build banner and a dozen URDF warnings per humanoid there), and log it at debug
    level: a stage's stdout stays the paths it wrote, and stderr shows it only with -v."""

    def __enter__(self) -> "native_output_to_debug_log":
        import os
        import tempfile

        sys.stdout.flush()
        sys.stderr.flush()
        self._capture = tempfile.TemporaryFile()
        self._saved = [os.dup(1), os.dup(2)]
        for fd in (1, 2):
            os.dup2(self._capture.fileno(), fd)
        return self

    def __exit__(self, *exc: object) -> None:
        import os

        sys.stdout.flush()
        sys.stderr.flush()
        for fd, saved in zip((1, 2), self._saved):
            os.dup2(saved, fd)
            os.close(saved)
        self._capture.seek(0)
        text = self._capture.read().decode(errors="replace").strip()
        self._capture.close()
        if text:
            log.debug("native output:\n%s", text)


def print_uncut(target: Console, renderable, whole: bool = False) -> None:
    """Print with the console widened to what the renderable needs: its no_wrap cells
    (`whole`: every cell and header at full width). A report redirected to a file is 80
    columns wide, and rich would cut that text (headers losing their marks, paths that cannot
    be copied). print() clamps its width to the console's, so the console is widened."""
    from rich.measure import Measurement

    span = Measurement.get(target, target.options.update_width(10_000), renderable)
    need = span.maximum if whole else span.minimum
    shown = target.width
    target.width = max(need, shown)
    try:
        target.print(renderable, crop=False)
    finally:
        target.width = shown
