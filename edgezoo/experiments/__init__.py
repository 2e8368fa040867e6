"""Experiments: the ``bench-*`` commands' logic (measurements, not the product's stages)."""
