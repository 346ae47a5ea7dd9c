"""Attention models and their training (arXiv 2308.16898 Sec. 2): the problem format, families,
models, losses, closed-form gradients, batched training and regularization paths."""
