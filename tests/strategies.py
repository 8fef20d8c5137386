"""Hypothesis strategies shared by the property tests: data sets, contexts and cases.

Every generated array is rebuilt from ``(kind, n, p, seed)``, so a falsifying
example printed by hypothesis is reproduced with :func:`make_X` and the printed
context.
"""

import dataclasses

import numpy as np
import scipy.sparse as sp
from hypothesis import strategies as st
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression, Ridge

from ._instances import (ConvexCombination, Convolution, CooccurrenceContext, GaussianNoiseContext,
                         KNNContext, LabelContext, LinearTeacherContext, MaskedContext,
                         PairedContext, RBFContext, TargetContext, TeacherContext)

#: Shapes of data: well spread, clustered, ties and duplicates, a constant column, rescaled.
DATA_KINDS = ("gaussian", "blobs", "grid", "duplicated", "constant_column", "scaled")
#: Data at the edges of float64: tiny, near the maximum, columns of unrelated scales,
#: near-duplicates (not in DATA_KINDS: the properties on them are the contract's checks).
ADVERSARIAL_KINDS = ("tiny", "huge", "mixed_scales", "near_duplicates")
#: Every built-in context, the composites with bases.
CONTEXT_KINDS = (
    "knn", "rbf", "noise", "label", "target", "cooccurrence", "paired", "teacher_proba",
    "teacher_transform", "teacher_predict", "linear_teacher", "masked", "convex", "convolution",
    "convolution_noise",
)
#: What a context needs besides X: class labels, a continuous target, a second view.
NEEDS = {
    "label": "classes", "target": "continuous", "teacher_proba": "classes",
    "teacher_predict": "continuous", "paired": "view",
}


def make_X(kind, n, p, seed):
    """A (n, p) float64 data set of the given kind (see ``DATA_KINDS``)."""
    rng = np.random.RandomState(seed)
    if kind == "gaussian":
        return rng.normal(size=(n, p))
    if kind == "blobs":
        centres = rng.normal(scale=5.0, size=(3, p))
        return centres[rng.randint(3, size=n)] + 0.3 * rng.normal(size=(n, p))
    if kind == "grid":  # small integers: many ties and duplicated rows
        return rng.randint(0, 3, size=(n, p)).astype(np.float64)
    if kind == "duplicated":
        base = rng.normal(size=(max(2, n // 3), p))
        return base[rng.randint(len(base), size=n)]
    if kind == "constant_column":
        X = rng.normal(size=(n, p))
        X[:, 0] = 1.5
        return X
    if kind == "scaled":  # a power of two: the geometry is exactly that of "gaussian"
        return rng.normal(size=(n, p)) * 2.0 ** rng.randint(-40, 40)
    # the adversarial magnitudes (ADVERSARIAL_KINDS)
    if kind == "tiny":  # squared distances underflow (2**-1000 to 2**-460)
        return np.ldexp(rng.normal(size=(n, p)), int(rng.randint(-1000, -460)))
    if kind == "huge":  # finite values up to near the float64 maximum
        return rng.uniform(-1, 1, size=(n, p)) * np.finfo(np.float64).max / 2.0 ** rng.randint(0, 4)
    if kind == "mixed_scales":  # each column at its own power of two, 2**-1000 to 2**1000
        return np.ldexp(rng.normal(size=(n, p)), rng.randint(-1000, 1000, size=p))
    if kind == "near_duplicates":  # copies apart by a few ulps: distances at round-off
        base = rng.normal(size=(max(2, n // 4), p))
        X = base[rng.randint(len(base), size=n)]
        return X * (1 + np.finfo(np.float64).eps * rng.randint(-2, 3, size=(n, p)))
    raise ValueError(kind)


def make_counts(n, p, seed):
    """Nonnegative counts (n, max(p, 2)), every row with at least one co-occurrence."""
    rng = np.random.RandomState(seed)
    counts = rng.poisson(1.0, size=(n, max(p, 2))).astype(np.float64)
    counts[np.arange(n), rng.randint(counts.shape[1], size=n)] += 1
    return counts


@dataclasses.dataclass
class Case:
    """A context with the data it is fitted on and new rows to transform.

    Its repr names everything needed to rebuild it (the arrays come from the seeds).
    """

    context_kind: str
    data_kind: str
    n: int
    p: int
    seed: int
    context: object
    X: np.ndarray = dataclasses.field(repr=False)
    y: object = dataclasses.field(repr=False)
    A: object = dataclasses.field(repr=False)
    X_new: np.ndarray = dataclasses.field(repr=False)
    A_new: object = dataclasses.field(repr=False)

    @property
    def fit_params(self):
        return {} if self.A is None else {"A": self.A}

    @property
    def new_params(self):
        return {} if self.A_new is None else {"A": self.A_new}

    def _repr_pretty_(self, printer, cycle):  # hypothesis prints falsifying examples with it
        printer.text(repr(self))

    def inputs(self):
        """Every array the library is given (to check that none is modified)."""
        return [a for a in (self.X, self.y, self.A, self.X_new, self.A_new) if a is not None]


def build_case(context_kind, data_kind, n, p, seed, context, n_new=5):
    """Generate the arrays of a case: X (counts for co-occurrence), y or A as needed."""
    rng = np.random.RandomState(seed + 1)
    if context_kind == "cooccurrence":
        X, X_new = make_counts(n, p, seed), make_counts(n_new, p, seed + 2)
    else:
        X = make_X(data_kind, n, p, seed)
        X_new = make_X(data_kind, n_new, p, seed + 2)
    need = NEEDS.get(context_kind)
    y = A = A_new = None
    if need == "classes":
        n_classes = 1 + seed % 3 if context_kind == "label" else 2 + seed % 2
        y = np.arange(n) % n_classes  # every class present
        rng.shuffle(y)
    elif need == "continuous":
        y = X[:, 0] + 0.1 * rng.normal(size=n)
    elif need == "view":
        A, A_new = rng.normal(size=(n, 3)), rng.normal(size=(n_new, 3))
    return Case(context_kind, data_kind, n, p, seed, context, X, y, A, X_new, A_new)


def _knn(draw, n, cap=10):
    return KNNContext(
        n_neighbors=draw(st.integers(1, min(n, cap))),
        metric=draw(st.sampled_from(["euclidean", "manhattan", "cosine"])),
        algorithm="exact",
    )


def _rbf(draw, n):
    return RBFContext(
        gamma=draw(st.sampled_from([None, 0.1, 1.0, 10.0])),
        n_neighbors=draw(st.one_of(st.none(), st.integers(1, min(n, 12)))),
        algorithm="exact",
    )


def _noise(draw, n, seed):
    return GaussianNoiseContext(
        sigma=draw(st.sampled_from([None, 0.1, 1.0, 10.0])),
        n_draws=draw(st.integers(1, 3)),
        n_neighbors=draw(st.integers(1, min(n, 8))),
        algorithm="exact",
        random_state=seed,
    )


def make_context(draw, kind, n, p, seed):
    """Draw the parameters of a context of the given kind for n rows of p features."""
    if kind == "knn":
        return _knn(draw, n)
    if kind == "rbf":
        return _rbf(draw, n)
    if kind == "noise":
        return _noise(draw, n, seed)
    if kind == "label":
        return LabelContext(n_neighbors=draw(st.integers(1, min(n, 10))), algorithm="exact")
    if kind == "target":
        base = draw(st.sampled_from(["knn", "rbf"]))
        return TargetContext(
            base=_knn(draw, n) if base == "knn" else _rbf(draw, n),
            n_neighbors=draw(st.integers(1, min(n, 10))),
            algorithm="exact",
        )
    if kind == "cooccurrence":
        return CooccurrenceContext()
    if kind == "paired":
        return PairedContext(_knn(draw, n))
    if kind == "teacher_proba":
        return TeacherContext(LogisticRegression(max_iter=200))
    if kind == "teacher_transform":
        return TeacherContext(PCA(n_components=min(2, p)), base=_knn(draw, n))
    if kind == "teacher_predict":
        return TeacherContext(Ridge(), base=_knn(draw, n))
    if kind == "linear_teacher":
        return LinearTeacherContext(threshold=draw(st.sampled_from([1e-3, 0.0, 0.5])),
                                    whiten=draw(st.booleans()))
    if kind == "masked":
        base = _knn(draw, n) if draw(st.booleans()) else _rbf(draw, n)
        return MaskedContext(
            base,
            mask_ratio=draw(st.sampled_from([0.0, 0.3, 0.6])),
            n_masks=draw(st.integers(1, 4)),
            random_state=seed,
        )
    if kind == "convex":
        weights = draw(st.sampled_from([None, [1.0, 1.0], [3.0, 1.0], [1.0, 0.0]]))
        return ConvexCombination([("knn", _knn(draw, n)), ("rbf", _rbf(draw, n))], weights=weights)
    if kind == "convolution":
        return Convolution(_knn(draw, n, cap=6), _knn(draw, n, cap=6))
    if kind == "convolution_noise":
        noise = _noise(draw, n, seed)
        return Convolution(noise, _knn(draw, n * noise.n_draws, cap=6))
    raise ValueError(kind)


@st.composite
def cases(draw, context_kinds=CONTEXT_KINDS, data_kinds=DATA_KINDS, min_rows=6, max_rows=60,
          max_features=5):
    """A context with its data: X, y or A when it needs them, and new rows."""
    context_kind = draw(st.sampled_from(context_kinds))
    data_kind = draw(st.sampled_from(data_kinds))
    n = draw(st.integers(min_rows, max_rows))
    p = draw(st.integers(1, max_features))
    seed = draw(st.integers(0, 2**16))
    context = make_context(draw, context_kind, n, p, seed)
    return build_case(context_kind, data_kind, n, p, seed, context)


def spectra():
    """Valid spectra: values in [0, 1] with repeated ones, zeros and tiny values."""
    value = st.one_of(
        st.floats(0.0, 1.0),
        st.sampled_from([0.0, 1.0, 1.0 - 1e-12, 1e-300, 5e-324, 0.5]),
    )
    return st.lists(value, min_size=0, max_size=20)


def embeddings():
    """(kind, n, d, seed, scale) of a generated embedding; see :func:`make_embedding`."""
    return st.tuples(
        st.sampled_from(["gaussian", "constant_column", "rank_one", "zeros", "duplicated"]),
        st.integers(1, 40),
        st.integers(1, 6),
        st.integers(0, 2**16),
        st.sampled_from([1.0, 1e-300, 1e-150, 1e150, 1e300, -1.0]),
    )


def make_embedding(kind, n, d, seed, scale):
    """An (n, d) embedding of the given kind times ``scale``."""
    rng = np.random.RandomState(seed)
    Z = rng.normal(size=(n, d))
    if kind == "constant_column":
        Z[:, 0] = 2.0
    elif kind == "rank_one":
        Z = np.outer(rng.normal(size=n), rng.normal(size=d))
    elif kind == "zeros":
        Z = np.zeros((n, d))
    elif kind == "duplicated":
        Z = Z[rng.randint(max(1, n // 3), size=n)]
    return Z * scale


def unseeded(case):
    """The case with every ``random_state`` of its context set to None (the default a
    user leaves): the estimator's own ``random_state`` must then make a fit reproducible."""
    params = case.context.get_params(deep=True)
    keys = [key for key in params if key == "random_state" or key.endswith("__random_state")]
    case.context.set_params(**dict.fromkeys(keys, None))
    return case


#: How a sparse joint may be laid out: the same matrix, in every representation scipy
#: accepts (non-canonical CSR has unsorted indices and duplicate entries).
JOINT_LAYOUTS = ("dense", "csr", "csc", "coo", "csr_non_canonical", "csc_non_canonical",
                 "coo_duplicates", "csr_array", "lil")


def awkward_joints():
    """(n, m, seed, density, exponent, layout, index dtype, value dtype) of a joint;
    see :func:`make_joint`."""
    return st.tuples(
        st.integers(1, 12),
        st.integers(1, 12),
        st.integers(0, 2**16),
        st.sampled_from([0.2, 0.5, 1.0]),
        st.sampled_from([0, 0, -1070, -1040, -1000, -300, 300, 1000, 1019, 1022]),
        st.sampled_from(JOINT_LAYOUTS),
        st.sampled_from([np.int32, np.int64]),
        st.sampled_from([np.float64, np.float32, np.int64, bool]),
    )


def make_joint(n, m, seed, density, exponent, layout, index_dtype, value_dtype):
    """A nonnegative (n, m) joint in the given layout, and the same joint as a dense
    float64 array divided by 2**exponent (exactly), or None for the joint when the
    values do not fit ``value_dtype``.

    Every row and column may be empty; one entry is always positive. ``exponent`` scales
    the values by 2**exponent (subnormal to near the float64 maximum, where a sum of
    the duplicates of a COO matrix overflows).
    """
    rng = np.random.RandomState(seed)
    dense = rng.uniform(0.5, 2.0, size=(n, m)) * (rng.uniform(size=(n, m)) < density)
    dense[rng.randint(n), rng.randint(m)] = 1.0
    if value_dtype is bool:
        dense = (dense > 0).astype(np.float64)
    elif value_dtype is np.int64:
        dense = np.round(dense * 3)
    else:
        dense = np.ldexp(dense, exponent)
        if value_dtype is np.float32:
            with np.errstate(over="ignore", under="ignore"):
                if not np.all(np.isfinite(dense.astype(np.float32))):
                    return None, None
                dense = dense.astype(np.float32).astype(np.float64)
    with np.errstate(over="ignore"):
        reference = np.ldexp(dense, -exponent) if value_dtype in (np.float64, np.float32) else dense
    if layout == "dense":
        return dense.astype(value_dtype), reference
    rows, cols = np.nonzero(dense)
    values = dense[rows, cols]
    if layout in ("csr_non_canonical", "csc_non_canonical", "coo_duplicates"):
        # every other entry split in two halves (duplicates), explicit zeros, shuffled
        split = np.arange(len(values)) % 2 == 0
        if value_dtype in (np.float64, np.float32):
            # v as (v - h) + h: exact even for subnormal v, whose halves would round
            half = np.where(split, values / 2, 0.0)
            rows, cols = np.r_[rows, rows[split]], np.r_[cols, cols[split]]
            values = np.r_[values - half, half[split]]
        zeros = rng.randint(0, 3)
        rows = np.r_[rows, rng.randint(n, size=zeros)]
        cols = np.r_[cols, rng.randint(m, size=zeros)]
        values = np.r_[values, np.zeros(zeros)]
        order = rng.permutation(len(values))
        rows, cols, values = rows[order], cols[order], values[order]
    values = values.astype(value_dtype)
    rows, cols = rows.astype(index_dtype), cols.astype(index_dtype)
    if layout in ("csr_non_canonical", "csc_non_canonical"):
        major, minor, size = (rows, cols, n) if layout.startswith("csr") else (cols, rows, m)
        order = np.argsort(major, kind="stable")
        indptr = np.r_[0, np.cumsum(np.bincount(major, minlength=size))].astype(index_dtype)
        matrix = sp.csr_matrix if layout.startswith("csr") else sp.csc_matrix
        return matrix((values[order], minor[order], indptr), shape=(n, m)), reference
    coo = sp.coo_matrix((values, (rows, cols)), shape=(n, m))
    if layout in ("coo", "coo_duplicates"):
        return coo, reference
    return {"csr": coo.tocsr, "csc": coo.tocsc, "lil": coo.tolil,
            "csr_array": lambda: sp.csr_array(coo)}[layout](), reference
