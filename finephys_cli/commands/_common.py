"""Shared option types and the error boundary every command runs inside."""

from __future__ import annotations

import functools
import inspect
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer
from rich.markup import escape

from ..console import console, interrupted, log, new_command, setup_logging, verbosity
from ..errors import FinephysError, PartialFailure, ResourceError, UsageError

F = TypeVar("F", bound=Callable[..., Any])

OutputOpt = Annotated[Path, typer.Option("-o", "--output", help="Output file.")]
# File -> file stages take their output as -o OUT or as the last argument (cmd IN... OUT.h5,
# the cp/ffmpeg habit); split_output applies the rule.
PositionalOutputOpt = Annotated[Path | None, typer.Option(
    "-o", "--output", help="Output file; without -o, the last argument if it ends in .h5.",
    show_default=False)]
ConfigOpt = Annotated[Path | None, typer.Option("-c", "--config", help="TOML config file.")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="Override a config key: key=value.")]
DeviceOpt = Annotated[str, typer.Option("-d", "--device", envvar="FINEPHYS_DEVICE",
                                        help="auto, cpu or cuda:N.")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Redo a finished output, or "
                                            "replace one made from other inputs.")]
ShardOpt = Annotated[str | None, typer.Option("--shard", help="Process slice I of N (0-based) "
                                              "for a Slurm array; writes "
                                              "OUT.shard-I-of-N.h5 (join with merge).")]
ProgressOpt = Annotated[Literal["auto", "rich", "plain", "json", "none"], typer.Option(
    "--progress", help="Progress on stderr: auto (a bar on a terminal, plain lines in a log), "
                       "rich, plain, json lines or none.")]
# One vocabulary for "which skeleton" in every command (generation/conditioning.py).
PoseSourceOpt = Annotated[Literal["auto", "exact", "fused", "lift", "physnet", "mlp", "detect"],
                          typer.Option("--pose-source", help=(
                              "Which skeleton: exact (synth truth), fused (S_dd+S_pp)/2, lift "
                              "(S_dd), physnet (S_pp), mlp (S_dd+S_MLP), detect (2D "
                              "detections); auto: exact, else fused, else detect."))]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Random seed.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")]
RunNameOpt = Annotated[str, typer.Option("--name", help="Run name: runs/<command>/<name>.")]
RunsOpt = Annotated[Path, typer.Option(help="Root folder of training runs.")]
StepsOpt = Annotated[int | None, typer.Option(help="Training steps.")]
GlobalBatchOpt = Annotated[int | None, typer.Option("--batch-size", help="Global batch size.")]
ResumeOpt = Annotated[str | None, typer.Option(help="auto (the run's last checkpoint) or a "
                                               "checkpoint folder.")]
FailFastOpt = Annotated[bool, typer.Option("--fail-fast", help="Stop at the first failed input.")]


HUB_OR_FOLDER = "a local folder, or a hub id with --allow-download"


def model_option(what: str, where: str = "a local folder",
                 default: str = "models.toml, FINEPHYS_*, else the shipped offline generator"
                 ) -> typer.models.OptionInfo:
    """A model's option: described, with where its default comes from."""
    return typer.Option(help=f"{what}: {where}. Default: {default}.", show_default=False)


def _is_oom(exc: BaseException) -> bool:
    name = type(exc).__name__
    return name == "OutOfMemoryError" or "CUDA out of memory" in str(exc)


VerboseOpt = Annotated[int, typer.Option("-v", "--verbose", count=True,
                                         help="More logging; -vv shows tracebacks.")]
QuietOpt = Annotated[bool, typer.Option("-q", "--quiet", help="Only warnings and errors.")]


def cli_command(fn: F) -> F:
    """Run a command body: FinephysError -> one stderr line and its exit code (errors.py).
    Every command also takes -v/-q, so they work after the subcommand as well as before."""

    @functools.wraps(fn)
    def wrapper(*args: Any, verbose: int = 0, quiet: bool = False, **kwargs: Any) -> Any:
        new_command()
        if quiet or verbose:
            setup_logging(-1 if quiet else max(verbose, verbosity()))
        try:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                if not isinstance(exc, typer.Exit) and _came_from_interrupt(exc):
                    raise KeyboardInterrupt from exc
                raise
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            console.print("[bold red]interrupted:[/bold red] finished work is kept (an "
                          "unfinished output stays as OUT.partial); rerun the same command to "
                          "resume", markup=True, soft_wrap=True)
            raise typer.Exit(130) from None
        except PartialFailure as exc:
            for name, why in sorted(exc.failures.items()):
                console.print(f"[red]failed[/red] {escape(str(name))}: {escape(str(why))}",
                              markup=True, soft_wrap=True)
            for path in exc.outputs:
                print(path)
            _fail(exc, exc.exit_code)
        except FinephysError as exc:
            _fail(exc, exc.exit_code)
        except OSError as exc:          # a full disk, a vanished folder: one line, not a trace
            _fail(exc, 1)
        except (RuntimeError, MemoryError) as exc:
            if _is_oom(exc):
                _fail(ResourceError(f"out of memory: {exc}".splitlines()[0]), 4)
            raise

    signature = inspect.signature(fn, eval_str=True)
    wrapper.__signature__ = signature.replace(parameters=[  # type: ignore[attr-defined]
        *signature.parameters.values(),
        inspect.Parameter("verbose", inspect.Parameter.KEYWORD_ONLY, default=0,
                          annotation=VerboseOpt),
        inspect.Parameter("quiet", inspect.Parameter.KEYWORD_ONLY, default=False,
                          annotation=QuietOpt)])
    wrapper.__annotations__ = {**fn.__annotations__, "verbose": VerboseOpt, "quiet": QuietOpt}
    return wrapper  # type: ignore[return-value]


def _came_from_interrupt(exc: BaseException) -> bool:
    """A Ctrl-C that a library turned into another exception: a KeyboardInterrupt in its
    cause/context chain (Python 3.11 wraps one raised in a class body's __set_name__, i.e. in
    the middle of an import, into a RuntimeError), or any error after one was swallowed."""
    if interrupted():
        return True
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _fail(exc: BaseException, code: int) -> None:
    if verbosity() >= 2:
        console.print_exception()
    # The message is text, not markup: `pip install 'finephys-cli[mediapipe]'`, `run[1].h5`.
    console.print(f"[bold red]error:[/bold red] {escape(str(exc))}", markup=True,
                  soft_wrap=True)
    raise typer.Exit(code)


def emit_paths(paths: list[Path], *, as_json: bool = False, extra: dict | None = None) -> None:
    """Stdout carries only the paths written (or one JSON object with --json)."""
    if as_json:
        print(json.dumps({"outputs": [str(p) for p in paths], **(extra or {})}, default=str))
    else:
        for p in paths:
            print(p)
    sys.stdout.flush()


def split_output(args: list[Path], output: Path | None, *, suffixes: tuple[str, ...] = (".h5",),
                 min_inputs: int = 1, max_inputs: int | None = None,
                 inputs_share_suffix: bool = True) -> tuple[list[Path], Path]:
    """The output rule of file -> file stages: `-o OUT`, or else the last argument when it ends
    in one of `suffixes` (`finephys detect videos/ out.h5`). `inputs_share_suffix=False` says
    no input can end so (detect reads videos), making `-o` plus such an argument ambiguous."""
    args = list(args)
    rule = f"give -o OUT or end the arguments with OUT{suffixes[0]}"
    if output is None:
        if len(args) > min_inputs and args[-1].suffix.lower() in suffixes:
            output = args.pop()
        else:
            raise UsageError(f"missing output: {rule}")
    elif (max_inputs is not None and len(args) > max_inputs) or (
            not inputs_share_suffix and any(a.suffix.lower() in suffixes for a in args)):
        raise UsageError(f"-o {output} and a positional output both given: {rule}, not both")
    if len(args) < min_inputs:
        raise UsageError(f"missing input: the arguments are IN... and then OUT ({rule})")
    if max_inputs is not None and len(args) > max_inputs:
        raise UsageError(f"{len(args)} inputs given, at most {max_inputs} expected")
    out_resolved = Path(output).resolve()
    for a in args:
        if Path(a).resolve() == out_resolved:
            raise UsageError(f"{output} is both an input and the output")
    return args, Path(output)


def check_training_sizes(cfg: Any, **names: str) -> Any:
    """Refuse a training run of no steps or empty batches (a usage error, exit 2) before its
    run folder exists, whether the value came from the option, -c or --set. `names` maps
    each config field to its option (default: steps -> --steps, batch_size -> --batch-size);
    a field the config lacks is skipped."""
    for field, option in (names or {"steps": "--steps", "batch_size": "--batch-size"}).items():
        value = getattr(cfg, field, None)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UsageError(f"{option} must be a whole number of at least 1, got {value!r}")
    return cfg


def resolve_device(device: str) -> str:
    """auto -> cuda if available else cpu; validates cuda:N."""
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
    raise UsageError(f"--device must be auto, cpu or cuda[:N], got {device!r}")


__all__ = ["check_training_sizes", "cli_command", "emit_paths", "resolve_device", "log"]
