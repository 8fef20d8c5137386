"""Hypothesis profiles: "ci" (the default) and "deep" (20x the examples).

Select one with ``HYPOTHESIS_PROFILE=deep``. Count the generated cases with
``pytest tests/test_properties.py -s`` (the last property test prints them) or
``--hypothesis-show-statistics``.
"""

import os

from hypothesis import HealthCheck, Phase, settings

_COMMON = dict(
    deadline=None,
    database=None,
    derandomize=False,
    # the "explain" phase reruns a failure hundreds of times to comment on it: slow here
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("ci", max_examples=100, **_COMMON)
settings.register_profile("deep", max_examples=2000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
