"""The `finephys` Typer root: global options and command registration.

Heavy libraries (torch, diffusers, ultralytics) are imported inside commands, never here.
"""

from __future__ import annotations

from typing import Annotated

import typer
from typer.core import TyperCommand, TyperGroup
from typer.models import DefaultPlaceholder

from . import __version__
from .console import install_interrupt_flag, setup_logging


class _FlagsShownAsFlags:
    """Flags (and -v's count) are shown as flags, not as `<bool>` / `<int>` values: applied to
    every parameter help sees, the help option and the completion options included."""

    def get_params(self, ctx):
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            _show_as_flag(param)
        return params


class FinephysCommand(_FlagsShownAsFlags, TyperCommand):
    """A command whose flags are shown as flags."""


class FinephysGroup(_FlagsShownAsFlags, TyperGroup):
    """The root (and `study`): its -v/-q/--version flags shown as flags."""


def _show_as_flag(param) -> None:
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        param.metavar = ""


app = typer.Typer(
    name="finephys",
    cls=FinephysGroup,
    help="FinePhys: fine-grained human action video with physics-based skeletal guidance.\n\n"
         "Every stage is file -> file: detect -> lift -> physnet -> render-heatmaps -> generate "
         "-> score.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"finephys {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    verbose: Annotated[int, typer.Option("-v", "--verbose", count=True,
                                         help="More logging; -vv shows tracebacks.")] = 0,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only warnings and errors.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """FinePhys as a file-to-file pipeline."""
    setup_logging(-1 if quiet else verbose)


def _register() -> None:
    from .commands import (demo, detect, eval_poses, generate, heatmaps, lift, physnet,
                           prepare_finegym, score, synth, train_generator, utilities, viz)

    for module in (demo, detect, lift, physnet, eval_poses, heatmaps, generate, train_generator,
                   score, synth, prepare_finegym, viz, utilities):
        module.register(app)
    groups = [app, *(g.typer_instance for g in app.registered_groups)]
    for group in groups:
        if group.info.cls in (None, TyperGroup) or isinstance(group.info.cls, DefaultPlaceholder):
            group.info.cls = FinephysGroup
        for command in group.registered_commands:
            if command.cls in (None, TyperCommand):
                command.cls = FinephysCommand


_register()


def main() -> None:
    setup_logging(0)
    install_interrupt_flag()
    try:
        app()
    except SystemExit as exc:
        if exc.code == 130:
            # Interrupted, and the command's `with` blocks have closed its outputs. A signal
            # that lands in the interpreter's shutdown could still end the process by SIGINT
            # (-2, seen twice in CI) instead of exit 130, so the shutdown is skipped.
            import logging
            import os
            import signal
            import sys

            signal.signal(signal.SIGINT, signal.SIG_IGN)
            logging.shutdown()
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            os._exit(130)
        raise


if __name__ == "__main__":
    main()
