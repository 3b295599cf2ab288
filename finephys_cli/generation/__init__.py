"""The FinePhys generator: heatmaps, heatmap encoder, pose injection, LoRA, losses, pipeline."""
