"""Progress lines of a fit, in scikit-learn's ``verbose`` convention.

``verbose=0`` prints nothing; ``verbose=1`` prints one line per finished stage
with its time; ``verbose=2`` also prints the steps inside a stage (one line per
solver round, and about every tenth of a long loop of a context: masks, row
batches). Lines go to stdout, as scikit-learn's estimators print them.

Contexts have no ``verbose`` of their own: an estimator's fit makes its
:class:`Progress` the active one while the context fits (:meth:`Progress.active`),
and a context's long loop goes through :func:`loop`, which reports to the
active progress at ``verbose >= 2`` and otherwise returns the iterable itself.
The active progress is a :class:`contextvars.ContextVar`, which threads do not
inherit: a loop reports from the thread that runs it, so a loop over parallel
results reports where the results are consumed, and a loop inside a worker
thread stays silent.
"""

import contextlib
import contextvars
import time

from sklearn.utils import gen_batches

#: Lines a loop prints at most (one per tenth of it).
LOOP_LINES = 10

_ACTIVE = contextvars.ContextVar("skcontexture_progress", default=None)


class Progress:
    """Timed stage lines of one fit.

    Parameters
    ----------
    verbose : int
        0: silent; 1: stages; 2 and above: stages and steps.
    owner : str
        Prefix of every line (the estimator's name).

    Examples
    --------
    >>> progress = Progress(verbose=1, owner="Example")
    >>> progress.done("first stage")  # doctest: +ELLIPSIS
    [Example] first stage (... s)
    >>> progress.step("a detail shown at verbose=2 only")
    """

    def __init__(self, verbose, owner):
        self.verbose = verbose or 0
        self.owner = owner
        self._start = time.perf_counter()
        self._looping = False

    def done(self, message):
        """Print ``message`` with the time since the previous stage (verbose >= 1)."""
        now = time.perf_counter()
        if self.verbose >= 1:
            print(f"[{self.owner}] {message} ({now - self._start:.2f} s)", flush=True)
        self._start = now

    def step(self, message):
        """Print a step inside the current stage (verbose >= 2)."""
        if self.verbose >= 2:
            print(f"[{self.owner}]   {message}", flush=True)

    @contextlib.contextmanager
    def active(self):
        """Make this progress the one that :func:`loop` reports to, inside the block.

        Examples
        --------
        >>> with Progress(verbose=2, owner="Example").active():
        ...     total = sum(loop(range(4), 4, "items"))  # doctest: +ELLIPSIS
        [Example]   items 1/4 (25%) ... s, ETA ... s
        [Example]   items 2/4 (50%) ... s, ETA ... s
        [Example]   items 3/4 (75%) ... s, ETA ... s
        [Example]   items 4/4 (100%) ... s
        """
        token = _ACTIVE.set(self if self.verbose >= 2 else None)
        try:
            yield self
        finally:
            _ACTIVE.reset(token)

    def _loop(self, iterable, total, what):
        """Yield from ``iterable``, printing a line at each tenth of ``total`` finished."""
        self._looping = True  # a loop inside this one stays silent
        try:
            start = time.perf_counter()
            reported = 0
            for finished, item in enumerate(iterable, 1):
                yield item  # the item's work is done when the next one is asked for
                if finished * LOOP_LINES >= (reported + 1) * total:
                    reported = finished * LOOP_LINES // total
                    elapsed = time.perf_counter() - start
                    left = (f", ETA {elapsed * (total - finished) / finished:.1f} s"
                            if finished < total else "")
                    self.step(f"{what} {finished}/{total} ({finished / total:.0%}) "
                              f"in {elapsed:.1f} s{left}")
        finally:
            self._looping = False


def loop(iterable, total, what):
    """Report the progress of a long loop of a context to the active fit.

    Parameters
    ----------
    iterable : iterable
        The loop's items, consumed in the calling thread.
    total : int
        Number of items.
    what : str
        What the items are, for the lines ("masks", "row batches").

    Returns
    -------
    iterable
        ``iterable`` itself unless a fit at ``verbose >= 2`` is active in this
        thread and no loop of it is running; else a generator of the same
        items that prints at most ``LOOP_LINES`` lines.
    """
    progress = _ACTIVE.get()
    if progress is None or progress._looping or total <= 0:
        return iterable
    return progress._loop(iterable, total, what)


def batches(n, batch_size, what):
    """:func:`sklearn.utils.gen_batches` through :func:`loop`: row slices of a long loop."""
    return loop(gen_batches(n, batch_size), -(-n // batch_size), what)
