"""GPU path: train on CUDA, pickle, load and predict on a CPU-only process.

Skipped without CUDA; run with ``pytest -m gpu tests/gpu`` on a machine with a GPU.
"""

import os
import subprocess
import sys
import textwrap

import joblib
import numpy as np
import pytest
import torch

from skspectra import SpectrumCNNClassifier

from ..conftest import FAST, make_lines

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


def test_cuda_fit_predicts_like_a_cpu_copy(tmp_path):
    X, y = make_lines(n=120)
    clf = SpectrumCNNClassifier(**FAST, device="cuda", random_state=0).fit(X, y)
    assert next(clf.module_.parameters()).is_cuda
    proba_gpu = clf.predict_proba(X)
    np.testing.assert_allclose(proba_gpu.sum(axis=1), 1.0, atol=1e-12)
    # cuDNN convolutions run in TF32 by default (torch.backends.cudnn.allow_tf32): 10-bit
    # mantissas, so the default probabilities differ from the CPU's by ~1e-4 (seen: 1.2e-4 on
    # an H200). In float32 they agree to float rounding.
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        proba_fp32 = clf.predict_proba(X)
    finally:
        torch.backends.cudnn.allow_tf32 = tf32
    assert (clf.predict(X) == y).mean() > 0.8

    joblib.dump(clf, tmp_path / "model.joblib")
    np.save(tmp_path / "X.npy", X)
    script = textwrap.dedent(f"""
        import joblib, numpy as np, torch
        assert not torch.cuda.is_available()
        clf = joblib.load({str(tmp_path / "model.joblib")!r})
        assert not next(clf.module_.parameters()).is_cuda
        X = np.load({str(tmp_path / "X.npy")!r})
        np.save({str(tmp_path / "proba.npy")!r}, clf.predict_proba(X))
    """)
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=300)
    proba_cpu = np.load(tmp_path / "proba.npy")
    np.testing.assert_allclose(proba_cpu, proba_fp32, atol=1e-5)
    np.testing.assert_allclose(proba_cpu, proba_gpu, atol=2e-3)
