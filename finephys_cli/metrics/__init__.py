"""Metrics: pose errors (VideoPose3D conventions), CLIP-SIM(*), PickScore, Fréchet distances."""
