"""Interrupted fits: Ctrl-C / SIGTERM leave a usable classifier; checkpoints resume bit-exactly."""

import os
import signal
import warnings

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback, EarlyStopping

from skspectra import SpectrumCNNClassifier
from skspectra.checkpoint import PREFIX, TrainingInterruptedWarning

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


def _checkpoints(folder):
    return sorted(folder.glob(f"{PREFIX}*.pt"))


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


def test_ctrl_c_stops_training_keeps_the_best_weights_and_says_so(data):
    X, y = data
    clf = SpectrumCNNClassifier(**SETTINGS, callbacks=[("stop", Interrupter(3))])
    before = signal.getsignal(signal.SIGINT)
    with pytest.warns(TrainingInterruptedWarning, match="interrupted by SIGINT in epoch 3"):
        clf.fit(X, y)
    assert clf.interrupted_ == "SIGINT"
    assert signal.getsignal(signal.SIGINT) == before  # restored
    assert len(clf.history) == 3  # two full epochs and the interrupted one
    scores = clf.history[:2, "valid_f1"]
    assert clf.best_epoch_ == int(np.argmax(scores)) + 1
    assert clf.predict(X).shape == y.shape  # usable
    # Code that must never go on with a half-trained model can make it an error.
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrainingInterruptedWarning)
        with pytest.raises(TrainingInterruptedWarning):
            SpectrumCNNClassifier(**SETTINGS, callbacks=[("stop", Interrupter(2))]).fit(X, y)
    assert SpectrumCNNClassifier(**SETTINGS).fit(X, y).interrupted_ is None


SIGTERM_SCRIPT = """
import os, signal, sys
from skorch.callbacks import Callback
from skspectra import SpectrumCNNClassifier
from tests.conftest import FAST, make_lines

class Term(Callback):
    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == 3:
            os.kill(os.getpid(), signal.SIGTERM)

X, y = make_lines(n=90)
SpectrumCNNClassifier(**{**FAST, "max_epochs": 4, "f1_epochs": 3}, random_state=0,
                      checkpoint_dir=sys.argv[1], callbacks=[("term", Term())]).fit(X, y)
print("the script went on")
"""


def test_sigterm_ends_the_process_after_the_checkpoint(tmp_path):
    """A batch scheduler's SIGTERM must not let the calling script go on with a half-trained
    model: the fit ends, the checkpoint of the last whole epoch stays, the process ends."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", SIGTERM_SCRIPT, str(tmp_path)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == -signal.SIGTERM, done.stderr[-2000:]
    assert "went on" not in done.stdout
    (path,) = _checkpoints(tmp_path)
    assert torch.load(path, weights_only=True)["epochs_done"] == 3


def test_an_ignored_signal_stays_ignored(data):
    """A fit started with SIGINT ignored (nohup, a background job) is not stopped by it."""
    X, y = data
    clf = SpectrumCNNClassifier(**SETTINGS, callbacks=[("stop", Interrupter(3, signal.SIGINT))])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # restored by usual_sigint
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrainingInterruptedWarning)
        clf.fit(X, y)
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    assert len(clf.history) == SETTINGS["max_epochs"] + SETTINGS["f1_epochs"]


@pytest.mark.parametrize("stop_epoch", [2, 5, 6, 7])  # phase 1, the switch, phase 2, the last
def test_resumed_fit_equals_an_uninterrupted_one(tmp_path, data, uninterrupted, stop_epoch):
    X, y = data
    stopper = Interrupter(stop_epoch)
    clf = SpectrumCNNClassifier(**SETTINGS, checkpoint_dir=tmp_path, callbacks=[("stop", stopper)])
    with pytest.warns(TrainingInterruptedWarning, match="resume"):
        clf.fit(X, y)
    assert len(_checkpoints(tmp_path)) == 1
    stopper.epoch = None
    clf.fit(X, y)  # resumes from the checkpoint of epoch stop_epoch - 1
    assert len(clf.history) == 7
    assert clf.history[:, "phase"] == [1] * 4 + [2] * 3
    assert clf.best_epoch_ == uninterrupted.best_epoch_
    expected = _weights(uninterrupted)
    assert all(torch.equal(v, expected[k]) for k, v in _weights(clf).items())
    np.testing.assert_array_equal(clf.predict_proba(X), uninterrupted.predict_proba(X))
    assert list(tmp_path.iterdir()) == []  # removed when the fit completes, no temp files


def test_fits_sharing_a_folder_keep_their_own_checkpoints(tmp_path, data, uninterrupted):
    """Another fit's checkpoint is neither resumed nor overwritten."""
    X, y = data
    other = SpectrumCNNClassifier(
        **{**SETTINGS, "lr": 3e-3}, checkpoint_dir=tmp_path, callbacks=[("stop", Interrupter(3))]
    )
    with pytest.warns(TrainingInterruptedWarning):
        other.fit(X, y)
    (others,) = _checkpoints(tmp_path)
    saved = others.read_bytes()
    clf = SpectrumCNNClassifier(**SETTINGS, checkpoint_dir=tmp_path).fit(X, y)
    assert len(clf.history) == 7
    np.testing.assert_array_equal(clf.predict_proba(X), uninterrupted.predict_proba(X))
    assert _checkpoints(tmp_path) == [others] and others.read_bytes() == saved


def _tamper(state):
    state["module"] = {k: v[:1] if v.dim() else v for k, v in state["module"].items()}


@pytest.mark.parametrize(
    "damage",
    [
        lambda s: s.update(epochs_done=-3),
        lambda s: s.update(epochs_done=50),
        lambda s: s.pop("module"),
        lambda s: s.update(history="rows"),
        lambda s: s.update(optimizer={"state": 1}),
        lambda s: s.update(sampler_rng={"bit_generator": "nope"}),
        _tamper,
        "garbage",
    ],
)
def test_a_damaged_checkpoint_is_a_value_error_naming_it(tmp_path, data, damage):
    X, y = data
    clf = SpectrumCNNClassifier(**SETTINGS, checkpoint_dir=tmp_path)
    clf.set_params(callbacks=[("stop", Interrupter(3))])
    with pytest.warns(TrainingInterruptedWarning):
        clf.fit(X, y)
    (path,) = _checkpoints(tmp_path)
    if damage == "garbage":
        path.write_bytes(b"not a checkpoint")
    else:
        state = torch.load(path, weights_only=True)
        damage(state)
        torch.save(state, path)
    clf.set_params(callbacks=[])
    with pytest.raises(ValueError, match=path.name):
        clf.fit(X, y)


def test_early_stopping_ends_training(data):
    X, y = data
    stop = EarlyStopping(monitor="train_loss", patience=1, threshold=10.0)
    clf = SpectrumCNNClassifier(**SETTINGS, callbacks=[("early", stop)]).fit(X, y)
    assert len(clf.history) < 7
    assert clf.interrupted_ is None


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
