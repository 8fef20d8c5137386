"""KNNContext: the strength of the context against its number of neighbours."""

from skcontexture import KNNContext

from .._reference import assert_falls, strength


def test_strength_falls_as_n_neighbors_grows(digits):
    assert_falls([strength(KNNContext(k).fit(digits).joint_) for k in (5, 10, 20, 40)])
