"""skspectra.presets: the contest model in one call."""

import numpy as np
from torch import nn

from skspectra import FluxScaler
from skspectra.presets import seed_pipeline


def test_seed_pipeline_builds_the_contest_network_and_schedule():
    rng = np.random.default_rng(0)
    X = rng.normal(100.0, 10.0, size=(8, 2600)).astype(np.float32)
    y = np.array(["star", "galaxy", "qso", "unknown"] * 2)
    pipe = seed_pipeline(max_epochs=0, f1_epochs=0, validation_split=None).fit(X, y)
    scaler, clf = pipe[0], pipe[-1]
    assert isinstance(scaler, FluxScaler)
    np.testing.assert_allclose(scaler.transform(X[:1]), X[:1] / 100.0, rtol=1e-6)
    net = clf.module_
    assert sum(p.numel() for p in net.parameters()) == 748_324  # SEED_MODEL.md
    assert net.n_pools == 7
    assert isinstance(net.dropout, nn.Dropout1d) and net.dropout.p == 0.5
    assert not any(isinstance(m, nn.BatchNorm1d) for m in net.modules())
    assert clf.augment is False
    assert clf.center is False
    assert (clf.batch_size, clf.lr, clf.f1_lr) == (160, 1e-3, 1e-4)
    assert (clf.max_epochs, clf.f1_epochs, clf.batches_per_epoch) == (0, 0, 500)  # overridden


def test_seed_pipeline_draws_the_contests_class_fractions():
    """SEED_MODEL.md: batches of 160 with star 0.8, unknown 0.1, galaxy 0.05, qso 0.05."""
    from skorch.callbacks import Callback

    class Batches(Callback):
        def initialize(self):
            self.counts = []
            return self

        def on_batch_begin(self, net, batch=None, training=None, **kwargs):
            if training:
                self.counts.append(np.bincount(batch[1].numpy(), minlength=4))

    rng = np.random.default_rng(0)
    X = rng.normal(100.0, 10.0, size=(200, 512)).astype(np.float32)
    y = np.array(["star"] * 170 + ["unknown"] * 15 + ["galaxy"] * 10 + ["qso"] * 5)
    spy = Batches()
    seed_pipeline(
        max_epochs=1, f1_epochs=0, batches_per_epoch=2, validation_split=None, callbacks=[spy]
    ).fit(X, y)
    # classes_ are sorted: galaxy, qso, star, unknown
    assert [c.tolist() for c in spy.counts] == [[8, 8, 128, 16]] * 2
