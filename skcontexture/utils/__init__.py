"""Utilities: a warm-up of the compiled code, and (in :mod:`.estimator_checks`)
checks for users who write their own contexts."""

from ._warm_up import warm_up

__all__ = ["warm_up"]
