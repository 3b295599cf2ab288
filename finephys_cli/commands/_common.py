"""Shared option types and the error boundary every command runs inside."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from ..console import console, log, verbosity
from ..errors import FinephysError, PartialFailure, ResourceError

F = TypeVar("F", bound=Callable[..., Any])

OutputOpt = Annotated[Path, typer.Option("-o", "--output", help="Output file.")]
ConfigOpt = Annotated[Path | None, typer.Option("-c", "--config", help="TOML config file.")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="Override a config key: key=value.")]
DeviceOpt = Annotated[str, typer.Option("-d", "--device", envvar="FINEPHYS_DEVICE",
                                        help="auto, cpu or cuda:N.")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Redo a finished output.")]
ShardOpt = Annotated[str | None, typer.Option("--shard", help="Process slice I of N (0-based), "
                                              "writes OUT.shard-I-of-N.h5.")]
ProgressOpt = Annotated[str, typer.Option("--progress", help="auto, rich, plain, json or none.")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Random seed.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")]
RunNameOpt = Annotated[str, typer.Option("--name", help="Run name: runs/<command>/<name>.")]
RunsOpt = Annotated[Path, typer.Option(help="Root folder of training runs.")]
StepsOpt = Annotated[int | None, typer.Option(help="Training steps.")]
GlobalBatchOpt = Annotated[int | None, typer.Option("--batch-size", help="Global batch size.")]
ResumeOpt = Annotated[str | None, typer.Option(help="auto (the run's last checkpoint) or a "
                                               "checkpoint folder.")]
FailFastOpt = Annotated[bool, typer.Option("--fail-fast", help="Stop at the first failed input.")]


def _is_oom(exc: BaseException) -> bool:
    name = type(exc).__name__
    return name == "OutOfMemoryError" or "CUDA out of memory" in str(exc)


def cli_command(fn: F) -> F:
    """Run a command body: FinephysError -> one stderr line and its exit code (DESIGN §3)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except PartialFailure as exc:
            for name, why in sorted(exc.failures.items()):
                console.print(f"[red]failed[/red] {name}: {why}", markup=True, soft_wrap=True)
            if exc.output:
                print(exc.output)
            _fail(exc, exc.exit_code)
        except FinephysError as exc:
            _fail(exc, exc.exit_code)
        except (RuntimeError, MemoryError) as exc:
            if _is_oom(exc):
                _fail(ResourceError(f"out of memory: {exc}".splitlines()[0]), 4)
            raise

    return wrapper  # type: ignore[return-value]


def _fail(exc: BaseException, code: int) -> None:
    if verbosity() >= 2:
        console.print_exception()
    console.print(f"[bold red]error:[/bold red] {exc}", markup=True, soft_wrap=True)
    raise typer.Exit(code)


def emit_paths(paths: list[Path], *, as_json: bool = False, extra: dict | None = None) -> None:
    """Stdout carries only the paths written (or one JSON object with --json)."""
    if as_json:
        print(json.dumps({"outputs": [str(p) for p in paths], **(extra or {})}, default=str))
    else:
        for p in paths:
            print(p)
    sys.stdout.flush()


def resolve_device(device: str) -> str:
    """auto -> cuda if available else cpu; validates cuda:N."""
    from ..errors import InputError, ResourceError

    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return device
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ResourceError(f"--device {device}: no CUDA device is available")
        return device
    raise InputError(f"--device must be auto, cpu or cuda[:N], got {device!r}")


__all__ = ["cli_command", "emit_paths", "resolve_device", "log"]
