"""File formats: pose HDF5, atomic writes, manifests, video."""
