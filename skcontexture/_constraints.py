"""Parameter constraints shared by the estimators and the contexts.

scikit-learn's ``Interval(Integral, ...)`` accepts ``True`` and ``False`` (``bool`` is
an ``int``), so ``n_components=True`` would pass validation and fail later inside numpy
or a neighbour search. These constraints reject booleans with scikit-learn's own message.
"""

import functools
from contextlib import contextmanager
from numbers import Integral
from ._compat import HasMethods, Interval

import joblib
import numba
import numpy as np


class _IntInterval(Interval):
    """An integer interval that rejects booleans."""

    def __init__(self, left, right, *, closed):
        super().__init__(Integral, left, right, closed=closed)

    def is_satisfied_by(self, val):
        return not isinstance(val, (bool, np.bool_)) and super().is_satisfied_by(val)


def count(low=1):
    """Constraint of an integer parameter >= ``low`` (booleans rejected)."""
    return _IntInterval(low, None, closed="left")


#: ``n_jobs``: None, a positive number of workers, or -1, -2, ... (all cores, all but one, ...).
N_JOBS = [_IntInterval(1, None, closed="left"), _IntInterval(None, -1, closed="right"), None]


def n_threads(n_jobs):
    """The threads this process uses for ``n_jobs``, resolved locally.

    None means 1, a positive number that many, -1 all cores of this machine
    (-2 all but one, ...), capped at numba's thread count. Unlike
    ``joblib.effective_n_jobs``, the active joblib backend does not count: under
    the dask backend that is the cluster's total, and a single-threaded worker
    would start several threads.

    Parameters
    ----------
    n_jobs : int or None

    Returns
    -------
    int
    """
    if n_jobs is None:
        n = 1
    elif n_jobs < 0:
        n = joblib.cpu_count() + 1 + n_jobs
    else:
        n = n_jobs
    return max(1, min(int(n), int(numba.config.NUMBA_NUM_THREADS)))


@contextmanager
def numba_threads(n_threads):
    """Temporarily set numba's thread count, restoring it afterwards.

    Parameters
    ----------
    n_threads : int
        Number of threads to use inside the context.
    """
    previous = numba.get_num_threads()
    numba.set_num_threads(n_threads)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


@functools.cache
def _blas_controller():
    """The BLAS libraries' thread pools, found once, after numpy's and scipy's BLAS are
    loaded (importing scipy.linalg)."""
    import scipy.linalg  # noqa: F401  (scipy's own BLAS, before the scan)
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas")


def blas_threads(limits):
    """Limit the BLAS libraries' threads to ``limits`` (None: no limit) inside a ``with``.

    ``threadpoolctl.threadpool_limits`` through one controller: a new one scans the
    process's loaded libraries each time (about 4 ms once numba and scikit-learn are in,
    a dozen times per context in the main job's selection).
    """
    return _blas_controller().limit(limits=limits)


class Implements(HasMethods):
    """An object implementing ``methods``, and not a class.

    scikit-learn's ``HasMethods`` accepts a class, whose methods are
    attributes too: ``context=KNNContext`` would pass validation and fail in
    the first unbound call. This constraint rejects it with a message that
    says to pass an instance.
    """

    def is_satisfied_by(self, val):
        return not isinstance(val, type) and super().is_satisfied_by(val)

    def __str__(self):
        return super().__str__().replace("an object", "an instance (not a class)", 1)
