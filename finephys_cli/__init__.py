"""finephys: FinePhys (CVPR 2025) as a file-to-file command-line pipeline."""

__version__ = "0.1.0"
