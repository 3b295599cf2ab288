"""Thin Typer commands: parse and validate options, call a stage, print the paths written."""
