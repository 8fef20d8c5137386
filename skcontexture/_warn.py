"""Warnings that point at the user's line.

A warning raised deep inside a fit (a solver under an estimator under
scikit-learn's parameter validation, a grid search, a pipeline) would name a
line of the library with a fixed ``stacklevel``. :func:`warn` walks up the
stack past every frame of skcontexture, scikit-learn and joblib and reports
the first frame outside them: the user's call.
"""

import os
import sys
import warnings

import joblib
import sklearn

_LIBRARIES = tuple(
    os.path.dirname(module.__file__) + os.sep
    for module in (sys.modules[__package__], sklearn, joblib)
)


def warn(message, category=UserWarning):
    """Issue ``warnings.warn(message, category)`` at the user's line.

    Parameters
    ----------
    message : str
        What happened and what to change.
    category : type of Warning, default=UserWarning
    """
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename.startswith(_LIBRARIES):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
