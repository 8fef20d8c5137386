"""What the estimators built on a context share."""

import numpy as np
from sklearn.base import clone
from sklearn.utils import get_tags
from sklearn.utils.validation import validate_data

from ._warn import warn
from .contexts._base import seed_unset, traits_for_tags
from .contexts._knn import context_or_default


class ContextEstimatorMixin:
    """The default context, input validation and tags of a context-based estimator.

    The estimator's input tags (sparse support, positive-only input, required
    target) are those its context's traits declare. Input is validated to
    float32 if it is float32 and to float64 otherwise, so that float32 data
    gives float32 outputs and fitted arrays (the solvers compute in float64 all
    the same).
    """

    def _context(self):
        return context_or_default(self.context)

    def _seeded_context(self):
        """An unfitted clone of the context, its unset seeds drawn from ``random_state``.

        Every ``random_state`` parameter of the context (nested ones included)
        left at None is set, on the clone, to an integer drawn from the
        estimator's ``random_state``, so that an integer ``random_state`` makes
        the whole fit reproducible (``fit_transform(X)`` equals
        ``fit(X).transform(X)`` for a context that draws noise or masks) and
        independent of ``n_jobs``. A seed the context sets itself is kept; with
        ``random_state=None`` the context is cloned as it is.
        """
        return seed_unset(clone(self._context()), self.random_state)

    def _warn_tied(self, context):
        """Warn when the fitted ``n_components_`` functions are an arbitrary pick among tied
        ones, with what the context advises."""
        advice = context._tied_components_advice(self.n_components_)
        if advice is not None:
            warn(advice, UserWarning)

    def _validate_X(self, X, reset):
        return validate_data(
            self,
            X,
            accept_sparse="csr" if get_tags(self).input_tags.sparse else False,
            dtype=[np.float64, np.float32],
            ensure_min_samples=2 if reset else 1,
            reset=reset,
        )

    def __sklearn_tags__(self):
        tags = traits_for_tags(self._context()).update_tags(super().__sklearn_tags__())
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

