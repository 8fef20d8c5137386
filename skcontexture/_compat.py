"""The private scikit-learn names the package uses, imported from one place.

scikit-learn's parameter validation (``Interval``, ``StrOptions``, ``HasMethods``,
``validate_params``, ``_fit_context``), its row indexing (``_safe_indexing``,
``_num_samples``) and the named-steps base of its compositions (``_BaseComposition``,
on which :class:`NamedParts` builds the package's own) are what scikit-learn's own estimators and its companion libraries build on, but they
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
    "NamedParts",
    "HasMethods",
    "Interval",
    "StrOptions",
    "fit_context",
    "num_samples",
    "safe_indexing",
    "validate_params",
]


class NamedParts(BaseComposition):
    """A composition of named parts: ``[(name, estimator), ...]`` in the parameter named by
    ``_parts_parameter``, whose parameters are nested as ``<name>__<parameter>`` (as in
    scikit-learn's ``Pipeline`` and ``FeatureUnion``)."""

    _parts_parameter = "parts"

    def get_params(self, deep=True):
        """Get the parameters, with the parts' as ``<name>__<parameter>``.

        Parameters
        ----------
        deep : bool, default=True
            Include the parts and their parameters.

        Returns
        -------
        params : dict
        """
        return self._get_params(self._parts_parameter, deep=deep)

    def set_params(self, **params):
        """Set parameters, parts (by name) and the parts' parameters.

        Parameters
        ----------
        **params : dict

        Returns
        -------
        self : estimator
        """
        return self._set_params(self._parts_parameter, **params)

    def _named_parts(self, kind, methods, described):
        """The parts as a list of ``(name, estimator)``, checked: a non-empty list of
        ``(name, kind)`` tuples with distinct string names that scikit-learn accepts, each
        part an instance with ``methods`` (else a TypeError saying it must be
        ``described``)."""
        parts = getattr(self, self._parts_parameter)
        label = self._parts_parameter
        try:
            names, estimators = zip(*parts)
        except (TypeError, ValueError):
            raise ValueError(
                f"{label} must be a non-empty list of (name, {kind}) tuples, got {parts!r}."
            ) from None
        if not all(isinstance(name, str) for name in names):
            raise ValueError(f"{label} must have string names, got {list(names)}.")
        self._validate_names(names)
        self._check_estimators_are_instances(estimators)
        for name, estimator in zip(names, estimators):
            if not all(hasattr(estimator, method) for method in methods):
                raise TypeError(f"Part {name!r} of {type(self).__name__} must be {described}, "
                                f"got {estimator!r}.")
        return list(zip(names, estimators))
