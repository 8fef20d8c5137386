"""The private scikit-learn names the package uses, imported from one place.

scikit-learn's parameter validation (``Interval``, ``StrOptions``, ``HasMethods``,
``validate_params``, ``_fit_context``), its row indexing (``_safe_indexing``,
``_num_samples``) and the named-steps base of its compositions (``_BaseComposition``)
are what scikit-learn's own estimators and its companion libraries build on, but they
are private: a minor release may move or change them. Every module of the package
imports them from here, under names without the underscore, so that a change is mended
in this file alone; ``pyproject.toml`` bounds scikit-learn below the next minor release,
which has not been tested (the lower bound, 1.6, is the first with ``validate_data`` and
``__sklearn_tags__``).
"""

from sklearn.base import _fit_context as fit_context
from sklearn.utils import _safe_indexing as safe_indexing
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions, validate_params
from sklearn.utils.metaestimators import _BaseComposition as BaseComposition
from sklearn.utils.validation import _num_samples as num_samples

__all__ = [
    "BaseComposition",
    "HasMethods",
    "Interval",
    "StrOptions",
    "fit_context",
    "num_samples",
    "safe_indexing",
    "validate_params",
]
