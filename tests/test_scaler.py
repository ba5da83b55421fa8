"""Tests of FluxScaler, the stateless per-spectrum scaling transformer."""

import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline

from skspectra.scaler import FluxScaler

from .conftest import make_lines

SCALE_METHODS = ["zscore", "max", "median", "l2", "minmax"]  # all but "constant"
ALL_METHODS = [*SCALE_METHODS, "constant"]
HYPOTHESIS = settings(max_examples=60, derandomize=True, database=None, deadline=None)


def scale(X, **params):
    return FluxScaler(**params).fit_transform(np.asarray(X, dtype=np.float64))


# --- each method on hand-computed rows -----------------------------------------------------------


@pytest.mark.parametrize(
    "params, row, expected",
    [
        (dict(method="zscore"), [1, 2, 3, 4], np.array([-3, -1, 1, 3]) / 2 / np.sqrt(1.25)),
        (dict(method="constant"), [100, -50, 250], [1.0, -0.5, 2.5]),
        (dict(method="constant", divisor=4.0), [1, 2, 3, 4], [0.25, 0.5, 0.75, 1.0]),
        (dict(method="max"), [-4, 2, 1], [-1.0, 0.5, 0.25]),  # largest *absolute* value
        (dict(method="max"), [1, 2, 4], [0.25, 0.5, 1.0]),
        (dict(method="median"), [-3, 1, 2], [-1.5, 0.5, 1.0]),  # median of |x| = 2
        (dict(method="median"), [2, 4, 6, 100], [0.4, 0.8, 1.2, 20.0]),  # median of 4 and 6
        (dict(method="l2"), [3, -4], [0.6, -0.8]),
        (dict(method="minmax"), [2, 4, 3], [0.0, 1.0, 0.5]),
        (dict(method="minmax"), [-1, 1, 0, 3], [0.0, 0.5, 0.25, 1.0]),
    ],
)
def test_methods_on_hand_computed_rows(params, row, expected):
    assert_allclose(scale([row], **params)[0], expected, rtol=1e-12, atol=1e-12)


def test_default_is_median_and_each_row_scaled_on_its_own():
    X = np.array([[1.0, 2.0, 3.0], [10.0, 40.0, 10.0], [-4.0, 2.0, 1.0]])
    out = FluxScaler().fit_transform(X)
    assert_allclose(out[0], [0.5, 1.0, 1.5])
    assert_allclose(out[1], [1.0, 4.0, 1.0])
    assert_allclose(out[2], [-2.0, 1.0, 0.5])  # the median of the absolute values: 2


def test_median_keeps_line_depth_that_zscore_erases():
    # A flat continuum at different brightness with an absorption line of two depths.
    line = np.zeros(50)
    line[20:25] = 1.0
    rows = np.array([c * (1 - d * line) for c in (3.0, 700.0) for d in (0.2, 0.6)])
    median = FluxScaler().fit_transform(rows)
    assert_allclose(median[0], median[2])  # brightness is gone ...
    assert median[0].min() == pytest.approx(0.8) and median[1].min() == pytest.approx(0.4)
    zscored = FluxScaler(method="zscore").fit_transform(rows)
    assert_allclose(zscored[0], zscored[1])  # ... and under z-scoring, the depth too


# --- degenerate rows and NaN ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, expected",
    [
        ("zscore", [0.0, 0.0, 0.0]),
        ("minmax", [0.0, 0.0, 0.0]),
        ("max", [1.0, 1.0, 1.0]),
        ("median", [1.0, 1.0, 1.0]),
        ("l2", [1 / np.sqrt(3)] * 3),
        ("constant", [0.05, 0.05, 0.05]),
    ],
)
def test_flat_row(method, expected):
    out = scale([[5.0, 5.0, 5.0], [1.0, 2.0, 3.0]], method=method)
    assert np.isfinite(out).all()
    assert_allclose(out[0], expected)


@pytest.mark.parametrize("method", ALL_METHODS)
def test_all_zero_row_stays_zero(method):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division by zero
        out = scale([[0.0, 0.0, 0.0, 0.0], [1.0, -2.0, 3.0, 0.5]], method=method)
    assert_array_equal(out[0], 0.0)
    assert np.isfinite(out).all()


@pytest.mark.parametrize(
    "method, expected",
    [
        ("zscore", np.array([-2, np.nan, 0, 2]) / np.sqrt(8 / 3)),  # mean 3, std of (1, 3, 5)
        ("max", [0.2, np.nan, 0.6, 1.0]),
        ("median", [1 / 3, np.nan, 1.0, 5 / 3]),
        ("l2", np.array([1, np.nan, 3, 5]) / np.sqrt(35)),
        ("minmax", [0.0, np.nan, 0.5, 1.0]),
        ("constant", [0.01, np.nan, 0.03, 0.05]),
    ],
)
def test_nan_is_kept_and_ignored_by_statistics(method, expected):
    out = scale([[1.0, np.nan, 3.0, 5.0]], method=method)
    assert_allclose(out[0], expected, equal_nan=True)


@pytest.mark.parametrize("method", ALL_METHODS)
def test_nan_in_one_row_does_not_change_other_rows(method):
    clean = np.array([[1.0, 4.0, 2.0, 8.0], [-3.0, 0.5, 2.0, 2.0]])
    with_nan = np.vstack([clean, [[np.nan, 1.0, 2.0, 3.0]]])
    assert_allclose(scale(with_nan, method=method)[:2], scale(clean, method=method), rtol=1e-12)


@pytest.mark.parametrize("method", ["zscore", "minmax"])
def test_flat_row_with_nan(method):
    out = scale([[5.0, np.nan, 5.0]], method=method)
    assert_array_equal(out[0], [0.0, np.nan, 0.0])


@pytest.mark.parametrize("method", ALL_METHODS)
def test_all_nan_row_stays_nan(method):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = scale([[np.nan, np.nan, np.nan], [1.0, 2.0, 4.0]], method=method)
    assert np.isnan(out[0]).all()
    assert_allclose(out[1], scale([[1.0, 2.0, 4.0]], method=method)[0])


@pytest.mark.parametrize("method", ["zscore", "max", "median", "minmax"])  # l2 uses nansum
def test_all_nan_row_transforms_without_warnings(method):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scale([[np.nan, np.nan, np.nan], [1.0, 2.0, 4.0]], method=method)


def test_transform_in_threads_leaves_the_warning_filters_as_they_were():
    # warnings.catch_warnings inside transform swapped the process-wide filters: threads that
    # overlapped restored each other's copies and left "ignore" behind in most runs.
    X = np.random.default_rng(0).normal(size=(20, 12))
    X[3] = np.nan
    X[5, :4] = np.nan
    scaler = FluxScaler().fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        before = list(warnings.filters)
        for _ in range(20):
            with joblib.parallel_config(backend="threading"):
                joblib.Parallel(n_jobs=4)(joblib.delayed(scaler.transform)(X) for _ in range(16))
            assert warnings.filters == before


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_infinite_values_raise(bad):
    X = np.array([[1.0, bad, 3.0]])
    with pytest.raises(ValueError, match="[Ii]nfinity"):
        FluxScaler().fit(X)
    scaler = FluxScaler().fit(np.ones((1, 3)))
    with pytest.raises(ValueError, match="[Ii]nfinity"):
        scaler.transform(X)


# --- dtypes, state, validation -------------------------------------------------------------------


@pytest.mark.parametrize("method", ALL_METHODS)
def test_float64_kept_float32_kept_integers_to_float32(method):
    X = np.array([[1, 2, 3, 7], [4, 0, -2, 5]])
    out64 = FluxScaler(method=method).fit_transform(X.astype(np.float64))
    out32 = FluxScaler(method=method).fit_transform(X.astype(np.float32))
    out_int = FluxScaler(method=method).fit_transform(X)
    assert out64.dtype == np.float64
    assert out32.dtype == np.float32
    assert out_int.dtype == np.float32
    assert_allclose(out32, out64, rtol=1e-6, atol=1e-6)
    assert_allclose(out_int, out64, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("method", ALL_METHODS)
def test_input_not_modified(method):
    X = np.array([[1.0, 2.0, 3.0], [4.0, np.nan, 6.0]])
    before = X.copy()
    FluxScaler(method=method).fit(X).transform(X)
    assert_array_equal(X, before)


@pytest.mark.parametrize("method", ALL_METHODS)
def test_stateless_fit_learns_nothing(method):
    rng = np.random.default_rng(0)
    A = rng.normal(size=(5, 6))
    B = 10 * rng.normal(size=(3, 6)) + 4
    fitted_on_a = FluxScaler(method=method).fit(A)
    assert fitted_on_a.n_features_in_ == 6
    assert_allclose(fitted_on_a.transform(B), FluxScaler(method=method).fit_transform(B))


def test_wrong_number_of_points_at_transform_raises():
    scaler = FluxScaler().fit(np.ones((2, 5)))
    with pytest.raises(ValueError, match="5 features"):
        scaler.transform(np.ones((2, 4)))


def test_transform_before_fit_raises():
    with pytest.raises(NotFittedError):
        FluxScaler().transform(np.ones((2, 3)))


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(method="mean"), "method"),
        (dict(method="MAX"), "method"),
        (dict(method="constant", divisor=0.0), "divisor"),
        (dict(method="constant", divisor=-100.0), "divisor"),
        (dict(divisor="100"), "divisor"),
        (dict(clip=0.0), "clip"),
        (dict(clip=-5.0), "clip"),
        (dict(clip="100"), "clip"),
    ],
)
def test_invalid_parameters_raise(params, match):
    with pytest.raises(ValueError, match=match):
        FluxScaler(**params).fit(np.ones((2, 3)))


def test_init_stores_parameters_verbatim():
    scaler = FluxScaler(method="nonsense", divisor=-1, clip=-2)
    assert scaler.get_params() == {"method": "nonsense", "divisor": -1, "clip": -2}


@pytest.mark.parametrize("method", ["median", "constant"])  # the others stay far below 100
def test_default_clips_a_spike_at_100_and_keeps_nan(method):
    # A cosmic ray thousands of times the continuum, and a missing pixel.
    X = np.ones((2, 50))
    X[:, 10] = 50_000.0
    X[:, 20] = -50_000.0
    X[1, 30] = np.nan
    plain = FluxScaler(method=method, clip=None).fit_transform(X)
    out = FluxScaler(method=method).fit_transform(X)
    assert np.nanmax(plain) > 100 and np.nanmin(plain) < -100
    np.testing.assert_array_equal(out[:, 10], 100.0)
    np.testing.assert_array_equal(out[:, 20], -100.0)
    assert np.isnan(out[1, 30]) and np.isnan(out).sum() == 1
    inside = np.abs(plain) <= 100
    np.testing.assert_array_equal(out[inside], plain[inside])


def test_clip_bounds_the_scaled_values_not_the_raw_ones():
    X = np.array([[1.0, 2.0, 50.0, 1.0, 1.0], [10.0, 20.0, 500.0, 10.0, 10.0]])
    out = FluxScaler(clip=5.0).fit_transform(X)
    np.testing.assert_array_equal(out[0], out[1])  # brightness still does not matter
    np.testing.assert_array_equal(out[0], [1.0, 2.0, 5.0, 1.0, 1.0])


# --- scikit-learn integration --------------------------------------------------------------------


def test_pipeline_predictions_ignore_brightness():
    X, y = make_lines(n=90, n_points=48)
    pipe = make_pipeline(FluxScaler(method="zscore"), LogisticRegression(max_iter=500))
    pipe.fit(X, y)
    assert pipe.score(X, y) > 0.9
    brightness = np.random.default_rng(1).uniform(0.01, 1000.0, size=(len(X), 1))
    X = X.astype(np.float64)
    assert_array_equal(pipe.predict(X * brightness), pipe.predict(X))


def test_dataframe_keeps_feature_names():
    columns = [f"w{i}" for i in range(4)]
    df = pd.DataFrame([[1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 8.0, 0.0]], columns=columns)
    scaler = FluxScaler(method="max").fit(df)
    assert_array_equal(scaler.feature_names_in_, columns)
    assert_array_equal(scaler.get_feature_names_out(), columns)
    out = FluxScaler(method="max").set_output(transform="pandas").fit_transform(df)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == columns
    assert_allclose(out.to_numpy(), [[0.25, 0.5, 0.75, 1.0], [0.25, 0.25, 1.0, 0.0]])
    renamed = df.rename(columns={"w0": "other"})
    with pytest.raises(ValueError, match="feature names"):
        scaler.transform(renamed)


def test_feature_names_out_through_pipeline():
    df = pd.DataFrame(np.arange(12.0).reshape(3, 4), columns=["a", "b", "c", "d"])
    pipe = Pipeline([("scale", FluxScaler()), ("again", FluxScaler(method="l2"))]).fit(df)
    assert_array_equal(pipe.get_feature_names_out(), ["a", "b", "c", "d"])


# --- properties ----------------------------------------------------------------------------------

rows = st.lists(st.integers(-(10**6), 10**6), min_size=3, max_size=30).map(
    lambda v: np.array(v, dtype=np.float64) / 100
)
factors = st.floats(1e-6, 1e6)


def _not_degenerate(row, method):
    peak = np.abs(row).max()
    if peak == 0:
        return False
    if method in ("zscore", "minmax"):
        return np.ptp(row) > 1e-6 * peak
    if method == "median":
        return np.median(np.abs(row)) > 1e-6 * peak
    return True


@pytest.mark.parametrize("method", SCALE_METHODS)
@HYPOTHESIS
@given(row=rows, factor=factors)
def test_positive_scaling_does_not_change_output(method, row, factor):
    assume(_not_degenerate(row, method))
    base = scale([row], method=method)
    scaled = scale([row * factor], method=method)
    assert_allclose(scaled, base, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("method", ALL_METHODS)
@HYPOTHESIS
@given(row=rows, nan_mask=st.lists(st.booleans(), min_size=30, max_size=30))
def test_nan_positions_are_ignored(method, row, nan_mask):
    mask = np.array(nan_mask[: len(row)])
    assume(not mask.all())
    with_nan = np.where(mask, np.nan, row)
    out = scale([with_nan], method=method)[0]
    assert np.isnan(out[mask]).all()
    assert_allclose(out[~mask], scale([row[~mask]], method=method)[0], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("method", ["max", "median", "minmax"])
@pytest.mark.parametrize("factor", [1e-26, 1e20])
def test_float32_extreme_flux_units(method, factor):
    row = np.array([[1.0, 2.0, 4.0, 7.0, 3.0]], dtype=np.float32)
    expected = FluxScaler(method=method).fit_transform(row)
    got = FluxScaler(method=method).fit_transform(row * np.float32(factor))
    assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("method", ["zscore", "l2"])
@pytest.mark.parametrize("factor", [1e-26, 1e20])
def test_float32_extreme_flux_units_squared_statistics(method, factor):
    row = np.array([[1.0, 2.0, 4.0, 7.0, 3.0]], dtype=np.float32)
    expected = FluxScaler(method=method).fit_transform(row)
    got = FluxScaler(method=method).fit_transform(row * np.float32(factor))
    assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


# --- hostile use: parameters changed after fit, catalogues larger than memory (issue 27) -----


@pytest.mark.parametrize("params", [dict(method="medain"), dict(method="constant", divisor=0)])
def test_parameters_set_after_fit_are_checked_by_transform(params):
    scaler = FluxScaler().fit(np.ones((2, 3)))
    scaler.set_params(**params)
    with pytest.raises(ValueError, match=next(iter(params)) if "divisor" not in params else "div"):
        scaler.transform(np.ones((2, 3)))


@pytest.mark.parametrize("method", ALL_METHODS)
def test_blocks_of_rows_give_the_same_result_as_one_block(method, monkeypatch):
    import skspectra.scaler as scaler_module

    rng = np.random.default_rng(0)
    X = rng.lognormal(size=(23, 17)).astype(np.float32)
    X[3, 4] = np.nan  # NaN in one block only: each block picks its reductions
    X[20] = np.nan
    whole = FluxScaler(method=method).fit_transform(X)
    monkeypatch.setattr(scaler_module, "_BLOCK_VALUES", 17 * 4)  # blocks of 4 rows
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        blocks = FluxScaler(method=method).fit_transform(X)
    assert_array_equal(blocks, whole)
    X[21, 2] = np.inf
    with pytest.raises(ValueError, match="infinity \\(row 21\\)"):
        FluxScaler(method=method).fit(X[:1]).transform(X)


@pytest.mark.parametrize("method", ["median", "zscore", "l2"])
def test_transform_of_a_memory_map_allocates_little_beyond_its_output(method, tmp_path):
    import tracemalloc

    # 100 MB of float32 on disk; NumPy reports every array it allocates to tracemalloc, and the
    # pages of the memory map are the file's, not allocations.
    n, p = 12_500, 2000
    path = tmp_path / "catalogue.f32"
    X = np.memmap(path, dtype=np.float32, mode="w+", shape=(n, p))
    for start in range(0, n, 2500):
        X[start : start + 2500] = np.float32(start % 7 + 1)
    X.flush()
    X = np.memmap(path, dtype=np.float32, mode="r", shape=(n, p))
    scaler = FluxScaler(method=method).fit(X[:2])
    tracemalloc.start()
    try:
        out = scaler.transform(X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out.dtype == np.float32 and out.shape == (n, p)
    expected = {"median": 1.0, "zscore": 0.0, "l2": 1 / np.sqrt(p)}[method]  # constant rows
    assert_allclose(out[[0, -1]], expected, rtol=1e-6)
    extra = peak - out.nbytes
    assert extra < 32 * 2**20, f"transform allocated {extra / 2**20:.0f} MB beyond its output"
