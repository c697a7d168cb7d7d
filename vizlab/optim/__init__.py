"""Optimizers for pre-images: the paper's Algorithm 1 and a thin Adam alternative."""

from vizlab.optim.preimage_sgd import PreImageSGD, build_optimizer, initial_learning_rate

__all__ = ["PreImageSGD", "build_optimizer", "initial_learning_rate"]
