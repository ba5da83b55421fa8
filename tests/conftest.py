"""Shared fixtures: fixed seeds, and small fast settings for the classifier."""

import numpy as np
import pytest
import torch

# Tiny network and schedule: enough to learn the toy problems of the tests in a second or two.
FAST = dict(
    max_epochs=8,
    f1_epochs=3,
    batch_size=32,
    module__filters=(8, 8, 16),
    module__hidden_units=16,
    module__dropout=0.1,
    validation_split=0.2,
    # One network: "auto" would train five side by side on data this small (tested in
    # test_classifier's ensemble tests), five times the time.
    n_networks=1,
)


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    # Tiny networks run faster on one thread, and a shared machine's load cannot oversubscribe.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _seeds():
    np.random.seed(0)  # noqa: NPY002 - code under test may draw from the global generator
    torch.manual_seed(0)


def make_lines(n=120, n_points=64, classes=("galaxy", "qso", "star"), seed=0):
    """Toy spectra: noise plus one emission line whose position tells the class."""
    rng = np.random.default_rng(seed)
    y = np.array(classes)[np.arange(n) % len(classes)]
    X = rng.normal(scale=0.5, size=(n, n_points)).astype(np.float32)
    for k, c in enumerate(classes):
        centre = int((k + 1) * n_points / (len(classes) + 1))
        X[y == c, centre - 2 : centre + 2] += 3.0
    return X, y


@pytest.fixture
def lines():
    return make_lines()


def make_alike(n=60, n_points=64, seed=0):
    """Nearly identical spectra (a shared smooth shape, 0.2 % noise) whose two classes differ
    by a 1 % bump: the kind of data that ``center="auto"`` centres."""
    rng = np.random.default_rng(seed)
    y = np.where(np.arange(n) % 2 == 0, "pure", "mixed")
    shape = 2.0 + np.sin(np.linspace(0, 6, n_points))
    X = (shape * (1 + 0.002 * rng.normal(size=(n, n_points)))).astype(np.float32)
    X[y == "mixed", n_points // 3 : n_points // 3 + 4] *= np.float32(1.01)
    return X, y
