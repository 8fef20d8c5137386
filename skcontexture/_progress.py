"""Progress lines of a fit, in scikit-learn's ``verbose`` convention.

``verbose=0`` prints nothing; ``verbose=1`` prints one line per finished stage
with its time; ``verbose=2`` also prints the steps inside a stage (one line per
solver round). Lines go to stdout, as scikit-learn's estimators print them.
"""

import time


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
