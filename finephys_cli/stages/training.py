"""Shared training plumbing: run folders, accelerate state, resume, metrics.

runs/<command>/<name>/
  config.toml                 written first
  checkpoints/step-XXXXXXXX/  accelerate state (model, optimizer, scheduler, RNG) + trainer.json
  checkpoints/last, best      symlinks, replaced atomically
  model-best/, model-last/    the released model (config.json + model.safetensors)
  metrics.csv                 one row per logged step
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..configs import dump_toml
from ..console import log
from ..io.atomic import atomic_write_text
from ..errors import UsageError


@dataclass
class TrainState:
    step: int = 0
    best: float = float("inf")
    best_step: int = -1
    skipped: int = 0          # steps whose gradient was not finite (not applied)


class RunDir:
    def __init__(self, root: Path, command: str, name: str):
        self.path = Path(root) / command / name
        self.checkpoints = self.path / "checkpoints"

    def start(self, config: Any, is_main: bool, resume: str | None = None,
              refuse_existing: bool = True) -> None:
        """Create the run folder and record the config this run uses (config.toml). A folder
        that already holds a run (metrics, a last checkpoint) is refused unless `resume` is
        given: a plain rerun restarted from scratch and appended to its metrics."""
        if refuse_existing:
            self.refuse_existing(resume, is_main)
        if is_main:
            self.checkpoints.mkdir(parents=True, exist_ok=True)
            cfg_path = self.path / "config.toml"
            text = dump_toml(config)
            if cfg_path.exists() and cfg_path.read_text() != text:
                log.info("%s: the config differs from the run's earlier one; config.toml now "
                         "records this one", self.path)
            atomic_write_text(cfg_path, text)

    def refuse_existing(self, resume: str | None, is_main: bool = True) -> None:
        """Refuse to start a new run where one is (metrics or a saved checkpoint), unless it is
        resumed. A resume with nothing saved yet starts over: its old metrics are set aside."""
        metrics, last = self.path / "metrics.csv", self.checkpoints / "last"
        if not (metrics.exists() or last.exists()):
            return
        if resume in (None, "", "none"):
            raise UsageError(f"{self.path} already holds a run; continue it with --resume auto, "
                             "or give another --name (or --runs), or delete the folder")
        if is_main and resume == "auto" and not last.exists() and metrics.exists():
            kept = metrics.with_name("metrics.before-restart.csv")
            os.replace(metrics, kept)
            log.info("%s: no checkpoint to resume; starting over (its metrics kept as %s)",
                     self.path, kept.name)

    def log_metrics(self, row: dict[str, float], is_main: bool) -> None:
        """Append a row to metrics.csv under the file's own header. Rows need not carry the
        same keys (train-lora's spatial loss exists only on the steps that take that pass):
        a missing value is left empty, and a new key rewrites the file with a wider header."""
        if not is_main:
            return
        path = self.path / "metrics.csv"
        rows: list[dict] = []
        header: list[str] = []
        extra = list(row)
        if path.exists():
            with open(path, newline="") as fh:
                reader = csv.DictReader(fh)
                header = list(reader.fieldnames or [])
                extra = [k for k in row if k not in header]
                if extra:
                    # a row wider than its header (files written before this fix) reads
                    # back with a None key: its surplus values are dropped
                    rows = [{k: v for k, v in r.items() if k is not None} for r in reader]
        if extra:
            header = header + extra
            buf = io.StringIO()
            writer = csv.DictWriter(buf, fieldnames=header, restval="")
            writer.writeheader()
            writer.writerows(rows + [row])
            atomic_write_text(path, buf.getvalue())
            return
        with open(path, "a", newline="") as fh:
            csv.DictWriter(fh, fieldnames=header, restval="").writerow(row)

    def resolve_resume(self, resume: str | None) -> Path | None:
        if resume in (None, "", "none"):
            return None
        if resume == "auto":
            last = self.checkpoints / "last"
            return last.resolve() if last.exists() else None
        path = Path(resume)
        if not (path / "trainer.json").exists():
            raise UsageError(f"--resume {resume}: not a checkpoint folder (no trainer.json)")
        return path

    def _link(self, name: str, target: Path) -> None:
        tmp = self.checkpoints / f".{name}.tmp"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(target.name, tmp)
        os.replace(tmp, self.checkpoints / name)

    def save(self, accelerator, state: TrainState, model_export, is_best: bool,
             keep: int = 3) -> Path:
        """Save the full accelerate state atomically (a .partial folder, then rename)."""
        final = self.checkpoints / f"step-{state.step:08d}"
        tmp = self.checkpoints / f"step-{state.step:08d}.partial"
        accelerator.wait_for_everyone()
        accelerator.save_state(str(tmp))
        if accelerator.is_main_process:
            (tmp / "trainer.json").write_text(json.dumps(state.__dict__))
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
            self._link("last", final)
            self._export(model_export, "model-last")
            if is_best:
                self._link("best", final)
                self._export(model_export, "model-best")
            steps = sorted(p for p in self.checkpoints.glob("step-*") if not p.suffix)
            best = (self.checkpoints / "best").resolve() if (self.checkpoints / "best").exists() \
                else None
            for old in steps[:-keep]:
                if old.resolve() != best:
                    shutil.rmtree(old)
        accelerator.wait_for_everyone()
        return final

    def _export(self, model_export, name: str) -> None:
        tmp = self.path / f"{name}.partial"
        if tmp.exists():
            shutil.rmtree(tmp)
        model_export(tmp)
        dest = self.path / name
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)

    def end_step(self, accelerator, state: TrainState, row: dict[str, float],
                 val_value: float | None, model_export, out_of_time: bool,
                 steps: int) -> bool:
        """Log the row, track the best validation value (lower is better; no validation makes
        every checkpoint the best), save; True when the time limit says stop."""
        is_best = val_value is None
        if val_value is not None and val_value < state.best:
            state.best, state.best_step, is_best = val_value, state.step, True
        self.log_metrics(row, accelerator.is_main_process)
        self.save(accelerator, state, model_export, is_best)
        if out_of_time:
            log.warning("time limit reached at step %d of %d; continue with --resume auto",
                        state.step, steps)
        return out_of_time

    def restore(self, accelerator, resume: str | None) -> TrainState:
        """The state to start from: the `--resume` checkpoint loaded, or a fresh one."""
        checkpoint = self.resolve_resume(resume)
        return TrainState() if checkpoint is None else self.load(accelerator, checkpoint)

    @staticmethod
    def load(accelerator, checkpoint: Path) -> TrainState:
        accelerator.load_state(str(checkpoint))
        state = TrainState(**json.loads((Path(checkpoint) / "trainer.json").read_text()))
        log.info("resumed from %s at step %d", checkpoint, state.step)
        return state


def optimizer_step(acc, loss, params, opt, sched, state: TrainState, step: int,
                   clip: float = 1.0) -> None:
    """backward, clip, step the optimizer and the LR schedule, and count the step. A step whose
    gradient is not finite (an autoregressive rollout that overflowed) is not applied, so one
    bad batch cannot turn every weight into NaN; the gradient norm is the all-reduced one, so
    every rank skips together."""
    import math

    opt.zero_grad(set_to_none=True)
    acc.backward(loss)
    norm = acc.clip_grad_norm_(params, clip)
    if norm is not None and not math.isfinite(float(norm)):
        opt.zero_grad(set_to_none=True)
        state.skipped += 1
        if state.skipped in (1, 10, 100) or state.skipped % 1000 == 0:
            from ..console import log

            log.warning("step %d: non-finite gradient, step skipped (%d so far)", step,
                        state.skipped)
    else:
        opt.step()
    sched.step()
    state.step = step + 1


def checkpoint_due(state: TrainState, steps: int, eval_every: int, time_limit_s: float,
                   started: float) -> tuple[bool, bool]:
    """(evaluate and save now, the time limit is reached)."""
    import time

    out_of_time = time_limit_s > 0 and time.monotonic() - started > time_limit_s
    return out_of_time or state.step % eval_every == 0 or state.step == steps, out_of_time


def make_accelerator(device: str, seed: int, **kwargs):
    """A fresh Accelerator. accelerate keeps one global state per process and refuses a
    second mixed_precision, so the state of an earlier stage in this process (a notebook, a
    test session) is reset first; the process group (PartialState) is kept."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    from accelerate.utils import set_seed

    AcceleratorState._reset_state(reset_partial_state=False)
    acc = Accelerator(cpu=device == "cpu", **kwargs)
    set_seed(seed)
    return acc


def batch_indices(n: int, batch_size: int, step: int, seed: int, rank: int = 0,
                  world: int = 1):
    """This rank's share of the global batch at `step`, drawn from (seed, step) alone, so a
    resumed run and an uninterrupted one see exactly the same batches."""
    import torch

    g = torch.Generator().manual_seed(seed * 1_000_003 + step)
    idx = torch.randint(n, (batch_size,), generator=g)
    return idx[rank::world], g
