"""The main job's defaults: its grid, tasks and model size.

Read by the selection (:mod:`skcontexture._selection`) and by the command line's
``--help``, which must not import the selection (nor scikit-learn) to print them.
"""

DEFAULT_K = (5, 10, 20, 50, 100)
DEFAULT_GAMMA = (0.1, 0.3, 1.0, 3.0)
TASK_CHOICES = ("auto", "classification", "regression")
#: Whole-number labels are classes only with at least this many rows per distinct value
#: on average: scikit-learn's diabetes target (whole numbers, 214 distinct values over 442
#: rows) is a quantity.
ROWS_PER_CLASS = 5
#: Components of each part of the main job's model, weighted by ``scale="propagation"``
#: (scaled by their singular values before; the measurements below are of that scaling): a
#: downstream model's regularisation then falls on the weak components first, so its
#: accuracy hinges less on the number (side measurements with the protocol of
#: benchmarks/downstream.py, 5 labels per class, logistic regression: a kNN context,
#: K = 15, scored 0.748 / 0.732 / 0.704 at d = 8 / 32 / 64 scaled and 0.735 / 0.675 /
#: 0.605 unscaled; the main job's model went from 0.720 with the proxy task's d
#: unscaled to 0.788 with 32 scaled components).
MODEL_COMPONENTS = 32

#: With M labelled rows the model keeps at most M / LABELS_PER_COMPONENT components: a
#: downstream model fitted on those rows gets at least 4 rows per feature (side
#: measurement above, 50 labelled digits: 0.748 at d = 8, 0.732 at d = 32, 0.704 at
#: d = 64).
LABELS_PER_COMPONENT = 4
