"""Type aliases of the public signatures, and scikit-learn's decorators as type checkers see them.

The aliases are strings read by type checkers only: the modules of the
package annotate with ``from __future__ import annotations`` and import the
aliases under ``typing.TYPE_CHECKING``, so an alias may name what exists only
for the checker (``typing_extensions.Self`` on Python 3.10, scipy's
``sparray``).

scikit-learn ships no type information, so a function decorated with its
``validate_params`` or ``_fit_context`` would be untyped to a checker. The
package imports both from here: at run time they are scikit-learn's own (through
``_compat``);
to a checker they return the function they decorate, with its signature.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Literal, TypeAlias, TypeVar

if TYPE_CHECKING:  # re-exported: ``from ._typing import ArrayLike, Self``
    import numpy as np
    from numpy.typing import ArrayLike as ArrayLike  # noqa: F401
    from numpy.typing import NDArray
    from scipy.sparse import sparray, spmatrix
    from typing_extensions import Self as Self  # noqa: F401

#: A scipy sparse matrix or array.
SparseMatrix: TypeAlias = "spmatrix | sparray"
#: Input data: anything numpy converts to an array (lists, ndarrays, DataFrames,
#: dask arrays) or a scipy sparse matrix or array.
MatrixLike: TypeAlias = "ArrayLike | spmatrix | sparray"
#: A float64 or float32 ndarray (embeddings, singular values).
FloatArray: TypeAlias = "NDArray[np.floating]"
#: An ndarray of integers (dimensions, indices).
IntArray: TypeAlias = "NDArray[np.integer]"
#: scikit-learn's ``random_state``: a seed, a RandomState instance, or None.
RandomStateLike: TypeAlias = "int | np.random.RandomState | None"
#: The neighbour searches of the contexts (``contexts._neighbors``).
Algorithm: TypeAlias = 'Literal["auto", "exact", "nndescent"]'
#: The solvers of the singular triplets (``_solvers.SOLVERS``).
Solver: TypeAlias = 'Literal["auto", "dense", "arpack", "lobpcg", "chebyshev"]'
#: The solvers of the singular values (``_solvers.VALUE_SOLVERS``).
ValueSolver: TypeAlias = 'Literal["auto", "dense", "randomized"]'

if TYPE_CHECKING:
    Function = TypeVar("Function", bound=Callable[..., Any])

    def fit_context(*, prefer_skip_nested_validation: bool) -> Callable[[Function], Function]:
        """``sklearn.base._fit_context``: validates the parameters, then fits."""

    def validate_params(
        parameter_constraints: dict[str, Any], *, prefer_skip_nested_validation: bool
    ) -> Callable[[Function], Function]:
        """``sklearn.utils._param_validation.validate_params``: validates the arguments."""

else:
    from ._compat import fit_context, validate_params  # noqa: F401
