"""Package data: the class table and the shipped checkpoints (each with a README model card)."""
