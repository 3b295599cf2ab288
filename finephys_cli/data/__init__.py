"""Motion data: the synthetic gymnastics generator, dataset readers, class and prompt tables."""
