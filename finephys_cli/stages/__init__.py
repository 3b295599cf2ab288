"""Pure stage functions: run_<stage>(config, inputs, output) -> result. No typer, no sys.exit."""
