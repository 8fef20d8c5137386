"""Compile the library's numba code ahead of the first fit."""

import time

import numpy as np

from .._embedding import ContextureEmbedding
from ..contexts import KNNContext

#: Points of the warm-up fit: enough rows and nonzeros that the solver takes the
#: iterative path and its block products the compiled kernel.
WARM_UP_SAMPLES = 2_000


def warm_up() -> float:
    """Compile NN-descent and the library's kernels now, on a small input.

    pynndescent compiles its NN-descent with numba the first time it runs in
    a process, and much of it cannot be cached on disk: the first NN-descent
    fit takes about 2.5 minutes more than its work in a fresh environment
    and about 40 s more in every later process (measured on 2 cores, see
    :doc:`/troubleshooting`), whatever the size of the data. The library's
    own kernels compile in about 2 s and are cached on disk
    (``cache=True``), so only the first process on a machine pays them.
    ``warm_up`` pays these costs at a moment of the caller's choosing (at
    the start of a service or a job) rather than inside the first fit: it
    fits a :class:`~skcontexture.ContextureEmbedding` with
    ``KNNContext(algorithm="nndescent")`` on 2,000 random points. It does
    not make later fits compile less in other processes. The
    single-precision products of operators with 20,000 rows or more, and
    NN-descent on sparse data, compile on their first use.

    Returns
    -------
    seconds : float
        The time the warm-up took (mostly compilation the first time in a
        process, a fraction of a second after).

    Examples
    --------
    >>> from skcontexture.utils import warm_up
    >>> seconds = warm_up()  # doctest: +SKIP
    """
    start = time.perf_counter()
    X = np.random.RandomState(0).normal(size=(WARM_UP_SAMPLES, 4))
    context = KNNContext(15, algorithm="nndescent", random_state=0)
    ContextureEmbedding(context, n_components=4, random_state=0).fit(X)
    return time.perf_counter() - start
