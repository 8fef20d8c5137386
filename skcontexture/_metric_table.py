"""The metrics that score a context: one row each, read by every place that ranks.

:class:`~skcontexture.ContextScorer` takes the rows computed without labels, the main
job (:mod:`skcontexture._selection`) ranks its grid by the rows marked ``main_job``, and
the command line lists the same rows as its choices and names them in its report. The
table imports nothing heavy, so that ``--help`` can print the choices; each row names
the function of :mod:`skcontexture.metrics` that computes its value, resolved where
the value is computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Metric:
    """One way of scoring a context.

    Attributes
    ----------
    name : str
        The value of ``ContextScorer(metric=...)`` and of the main job's ``--metric``.
    function : str or None
        The function of :mod:`skcontexture.metrics` that computes the metric's value
        (None: the main job computes it, from labelled rows).
    best : {"max", "min"} or float
        Which values are better: the largest, the smallest, or those closest to a
        number. :meth:`score` turns a value into a score where greater is better.
    needs : {"spectrum", "scaled embedding", "refit", "embedding", "labels"}
        What the value is computed from: s_1..s_d0 of the context's operator
        ("spectrum"); the smallest centred embedding whose covariance is diag(s^2), the
        rows +-diag(s) ("scaled embedding"); clones of the estimator refitted on parts of
        the rows ("refit"); the estimator's embedding against its context's joint
        ("embedding"); labelled rows ("labels").
    label : str
        How the main job's report names it.
    main_job : bool
        Whether the main job can rank its grid by it.
    """

    name: str
    function: str | None
    best: Literal["max", "min"] | float
    needs: Literal["spectrum", "scaled embedding", "refit", "embedding", "labels"]
    label: str
    main_job: bool = False

    @property
    def of_spectrum(self):
        """Whether the value is a function of the spectrum s_1..s_d0 alone."""
        return self.needs in ("spectrum", "scaled embedding")

    def score(self, value):
        """The score of a value of this metric: greater is better."""
        if self.best == "max":
            return value
        if self.best == "min":
            return -value
        return -abs(value - self.best)


METRICS = {metric.name: metric for metric in (
    Metric("feature_prediction", "feature_prediction", "max", "refit", "feature_prediction",
           main_job=True),
    Metric("tau", "tau", "min", "spectrum", "tau", main_job=True),
    Metric("rankme", "rankme", "max", "scaled embedding", "RankMe"),
    # alpha-ReQ: a power-law decay of s_i^2 with exponent close to 1 is best
    Metric("alpha_req", "alpha_req", 1.0, "scaled embedding", "alpha-ReQ"),
    Metric("lidar", "lidar", "max", "embedding", "LiDAR"),
    # prefers slow decay, i.e. stronger contexts: a naive baseline
    Metric("decay_rate", "decay_rate", "min", "spectrum", "decay rate"),
    Metric("labelled", None, "max", "labels", "labelled probe", main_job=True),
)}

#: The metrics of ``ContextScorer``: those computed without labels.
SCORER_METRICS = tuple(name for name, m in METRICS.items() if m.needs != "labels")
#: The metrics the main job ranks its grid by (``--metric``).
MAIN_JOB_METRICS = tuple(name for name, m in METRICS.items() if m.main_job)
