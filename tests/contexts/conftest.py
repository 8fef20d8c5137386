"""Fixtures of the context tests; numerical warnings are errors in every one of them."""

import warnings

import pytest

from .._instances import make_data


@pytest.fixture(autouse=True)
def _numerical_warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        yield


@pytest.fixture(scope="module")
def data():
    """The data of the context table (``make_data``) at 200 rows of 6 features."""
    return make_data(n_samples=200, n_features=6)


@pytest.fixture(scope="module")
def digits(digits):
    """Every other image of the digits (899 rows), for the strength tests."""
    return digits[0][::2]


@pytest.fixture
def X_huge(X):
    """The shared ``X`` with a first coordinate of order 1e300."""
    return X * [1e300, 1.0, 1.0]
