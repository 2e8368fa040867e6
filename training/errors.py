"""The error of the training stage."""

from zoo.core.errors import EdgezooError


class TrainingError(EdgezooError, RuntimeError):
    """Training stopped for a reason the user must act on (NaN loss, bad settings)."""
