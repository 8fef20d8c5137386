"""The type hints of the public signatures, as a user's type checker reads them.

mypy checks small user scripts against the package as it is imported here: it
must find the hints through the package's ``py.typed`` marker (a package
without it is skipped, and every result below would be ``Any``), accept the
README's usage and a search over contexts, and reject wrong arguments.
scikit-learn and scipy ship no type information (``--ignore-missing-imports``).
"""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import skcontexture

pytest.importorskip("mypy")

#: The folder the imported package lies in, given to mypy as a place of installed packages.
PACKAGE_PARENT = Path(skcontexture.__file__).resolve().parent.parent

README_USAGE = """
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skcontexture import ContextureEmbedding, KNNContext, RBFContext

    X, y = load_digits(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), ContextureEmbedding(n_components=32),
                         LogisticRegression(max_iter=2000))
    grid = GridSearchCV(pipe, {
        "contextureembedding__context": [KNNContext(10), KNNContext(30), KNNContext(100),
                                         RBFContext(gamma=0.01), RBFContext(gamma=0.03)],
    }, cv=3)
    grid.fit(X, y)
    print(grid.best_params_, round(grid.best_score_, 3))
"""

# assert_type fails when a hint is missing (the result would be Any).
TYPED_RESULTS = """
    import numpy as np
    import numpy.typing as npt
    from sklearn.model_selection import GridSearchCV
    from typing_extensions import assert_type

    from skcontexture import (
        ContextScorer,
        ContextureEmbedding,
        ConvexCombination,
        KNNContext,
        MaskedContext,
        SpectralContextEncoder,
    )
    from skcontexture.contexts import ContextTraits
    from skcontexture.linalg import Spectrum, context_spectrum, top_singular_functions
    from skcontexture.metrics import feature_prediction, tau, tau_curve

    X = np.random.RandomState(0).normal(size=(300, 5))
    emb = ContextureEmbedding(KNNContext(n_neighbors=10), n_components=4, solver="dense").fit(X)
    assert_type(emb, ContextureEmbedding)
    assert_type(emb.transform(X), npt.NDArray[np.floating])
    assert_type(emb.fit_transform(X), npt.NDArray[np.floating])
    assert_type(emb.score(X), float)
    encoder = SpectralContextEncoder(MaskedContext(KNNContext(10)), n_components=2).fit(X)
    assert_type(encoder.transform(X), npt.NDArray[np.floating])
    context = KNNContext(10).fit(X)
    assert_type(context, KNNContext)
    assert_type(context.traits(), ContextTraits)
    mixture = ConvexCombination([("near", KNNContext(5)), ("far", KNNContext(50))])

    spectrum = context_spectrum(context.joint_, 32, solver="randomized", log=print)
    assert_type(spectrum, Spectrum)
    assert_type(tau(spectrum.values), float)
    assert_type(tau_curve(spectrum.values), tuple[npt.NDArray[np.floating], int])
    s, mu, nu = top_singular_functions(context.joint_, 3)
    assert_type(mu, npt.NDArray[np.floating])
    assert_type(feature_prediction(emb, X), float)
    assert_type(feature_prediction(emb, X, return_dim=True), tuple[float, int])

    scorer = ContextScorer("tau", max_dim=64, verbose=1)
    assert_type(scorer(emb, X), float)
    search = GridSearchCV(ContextureEmbedding(n_components=4),
                          {"context": [KNNContext(5), KNNContext(50), mixture]},
                          scoring=scorer, cv=2).fit(X)
"""

WRONG_ARGUMENTS = """
    from skcontexture import ContextScorer, ContextureEmbedding, KNNContext

    ContextureEmbedding(n_components="4")
    ContextureEmbedding(solver="fastest")
    KNNContext(algorithm="kd_tree")
    ContextScorer(metric="accuracy")
    ContextureEmbedding(KNNContext(), 4, "dense")
"""


def _mypy(folder, scripts):
    """mypy's error lines on the scripts, by script name: ``{name: [line, ...]}``."""
    for name, source in scripts.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(source))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(PACKAGE_PARENT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    command = [sys.executable, "-m", "mypy", "--ignore-missing-imports", "--no-error-summary",
               "--cache-dir", str(folder / ".mypy_cache"), *(f"{name}.py" for name in scripts)]
    result = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode in (0, 1), result.stdout + result.stderr  # 2: mypy itself failed
    errors = {name: [] for name in scripts}
    for line in result.stdout.splitlines():
        found = re.match(r"(\w+)\.py:(\d+): error: ", line)
        if found:
            errors[found[1]].append(int(found[2]))
    return errors, result.stdout


def test_user_scripts_type_check_against_the_installed_hints(tmp_path):
    errors, output = _mypy(tmp_path, {"readme": README_USAGE, "typed": TYPED_RESULTS,
                                      "wrong": WRONG_ARGUMENTS})
    assert errors["readme"] == [], output
    assert errors["typed"] == [], output
    # one error on each call of the wrong script (its lines 4-8 after dedent's leading newline)
    assert sorted(set(errors["wrong"])) == [4, 5, 6, 7, 8], output
