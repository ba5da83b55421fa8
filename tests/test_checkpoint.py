"""Interrupted fits: Ctrl-C / SIGTERM leave a usable classifier; checkpoints resume bit-exactly."""

import os
import signal
import warnings

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback, EarlyStopping

from skspectra import SpectrumCNNClassifier
from skspectra.checkpoint import FILENAME

from .conftest import FAST, make_lines

SETTINGS = {**FAST, "max_epochs": 4, "f1_epochs": 3, "random_state": 0}


class Interrupter(Callback):
    """Sends a signal to this process in the middle of a given epoch (counted over phases)."""

    def __init__(self, epoch=None, sig=signal.SIGINT):
        self.epoch = epoch
        self.sig = sig

    def on_batch_end(self, net, training=None, **kwargs):
        if training and self.epoch is not None and len(net.history) == self.epoch:
            if len(net.history[-1]["batches"]) == 2:
                os.kill(os.getpid(), self.sig)


def _weights(clf):
    return {k: v.clone() for k, v in clf.module_.state_dict().items()}


@pytest.fixture(autouse=True)
def usual_sigint():
    """SIGINT with Python's own handler: a shell starts background jobs with it ignored, which
    a fit respects (``test_an_ignored_signal_stays_ignored``), so these tests set it."""
    outside = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, outside)


@pytest.fixture(scope="module")
def data():
    return make_lines(n=90)


@pytest.fixture(scope="module")
def uninterrupted(data):
    return SpectrumCNNClassifier(**SETTINGS).fit(*data)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_training_and_keeps_the_best_weights(data, sig):
    X, y = data
    clf = SpectrumCNNClassifier(**SETTINGS, callbacks=[("stop", Interrupter(3, sig))])
    before = signal.getsignal(sig)
    with pytest.warns(UserWarning, match=f"interrupted by {sig.name} in epoch 3"):
        clf.fit(X, y)
    assert signal.getsignal(sig) == before  # restored
    assert len(clf.history) == 3  # two full epochs and the interrupted one
    scores = clf.history[:2, "valid_f1"]
    assert clf.best_epoch_ == int(np.argmax(scores)) + 1
    assert clf.predict(X).shape == y.shape  # usable


def test_an_ignored_signal_stays_ignored(data):
    """A fit started with SIGINT ignored (nohup, a background job) is not stopped by it."""
    X, y = data
    clf = SpectrumCNNClassifier(**SETTINGS, callbacks=[("stop", Interrupter(3, signal.SIGINT))])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # restored by usual_sigint
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*interrupted")
        clf.fit(X, y)
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    assert len(clf.history) == SETTINGS["max_epochs"] + SETTINGS["f1_epochs"]


@pytest.mark.parametrize("stop_epoch", [2, 6])  # in phase 1 and in phase 2
def test_resumed_fit_equals_an_uninterrupted_one(tmp_path, data, uninterrupted, stop_epoch):
    X, y = data
    stopper = Interrupter(stop_epoch)
    clf = SpectrumCNNClassifier(**SETTINGS, checkpoint_dir=tmp_path, callbacks=[("stop", stopper)])
    with pytest.warns(UserWarning, match="resume"):
        clf.fit(X, y)
    assert (tmp_path / FILENAME).exists()
    stopper.epoch = None
    clf.fit(X, y)  # resumes from the checkpoint of epoch stop_epoch - 1
    assert len(clf.history) == 7
    assert clf.history[:, "phase"] == [1] * 4 + [2] * 3
    assert clf.best_epoch_ == uninterrupted.best_epoch_
    expected = _weights(uninterrupted)
    assert all(torch.equal(v, expected[k]) for k, v in _weights(clf).items())
    np.testing.assert_array_equal(clf.predict_proba(X), uninterrupted.predict_proba(X))
    assert list(tmp_path.iterdir()) == []  # removed when the fit completes, no temp files


def test_a_checkpoint_of_another_fit_is_not_resumed(tmp_path, data, uninterrupted):
    X, y = data
    stopper = Interrupter(3)
    other = SpectrumCNNClassifier(
        **{**SETTINGS, "lr": 3e-3}, checkpoint_dir=tmp_path, callbacks=[("stop", stopper)]
    )
    with pytest.warns(UserWarning):
        other.fit(X, y)
    clf = SpectrumCNNClassifier(**SETTINGS, checkpoint_dir=tmp_path).fit(X, y)
    assert len(clf.history) == 7
    np.testing.assert_array_equal(clf.predict_proba(X), uninterrupted.predict_proba(X))


def test_a_damaged_checkpoint_is_named(tmp_path, data):
    (tmp_path / FILENAME).write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=FILENAME):
        SpectrumCNNClassifier(**SETTINGS, checkpoint_dir=tmp_path).fit(*data)


def test_early_stopping_ends_only_the_current_phase(data):
    X, y = data
    stop = EarlyStopping(monitor="train_loss", patience=1, threshold=10.0)
    clf = SpectrumCNNClassifier(**SETTINGS, callbacks=[("early", stop)]).fit(X, y)
    phases = clf.history[:, "phase"]
    assert 1 in phases and 2 in phases
    assert len(phases) < 7


def test_an_ignored_sigint_stays_ignored_during_fit():
    from skspectra.checkpoint import TrainingInterrupted, interruptible

    old = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in a shell's background job
    try:
        with interruptible():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            # SIGTERM still ends the fit gracefully.
            with pytest.raises(TrainingInterrupted, match="SIGTERM"):
                os.kill(os.getpid(), signal.SIGTERM)  # the handler runs before the next line
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, old)
