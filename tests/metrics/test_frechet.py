import numpy as np
import pytest
from scipy import linalg

from finephys_cli.metrics.frechet import FeatureStats, frechet_distance


def test_closed_forms():
    a = FeatureStats(np.array([1.0]), np.array([[4.0]]), 10)
    b = FeatureStats(np.array([3.0]), np.array([[9.0]]), 10)
    assert frechet_distance(a, b) == pytest.approx(5.0)      # (1-3)^2 + 4 + 9 - 2*6
    c = FeatureStats(np.zeros(3), np.diag([1.0, 4.0, 9.0]), 10)
    d = FeatureStats(np.array([1.0, 0, 0]), np.diag([4.0, 9.0, 16.0]), 10)
    assert frechet_distance(c, d) == pytest.approx(1 + 1 + 1 + 1)
    # The case: N(0,1) vs N(2,4) -> 4 + 1 + 4 - 2·1·2 = 5, in either order.
    e = FeatureStats(np.array([0.0]), np.array([[1.0]]), 10)
    f = FeatureStats(np.array([2.0]), np.array([[4.0]]), 10)
    assert frechet_distance(e, f) == pytest.approx(5.0)
    assert frechet_distance(f, e) == pytest.approx(5.0)
    assert frechet_distance(c, d) == pytest.approx(frechet_distance(d, c))


def test_matches_scipy_sqrtm_and_is_zero_on_identical_sets():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 40))
    y = rng.normal(size=(200, 40)) @ rng.normal(size=(40, 40)) * 0.3 + 0.5
    a, b = FeatureStats.from_features(x), FeatureStats.from_features(y)
    covmean = linalg.sqrtm(a.cov @ b.cov).real
    ref = ((a.mean - b.mean) ** 2).sum() + np.trace(a.cov + b.cov - 2 * covmean)
    assert frechet_distance(a, b) == pytest.approx(ref, rel=1e-6)
    assert abs(frechet_distance(a, a)) < 1e-8
    with pytest.raises(ValueError):
        FeatureStats.from_features(x[:1])
