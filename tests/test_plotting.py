"""The CLI's figures: written to a path without pyplot, the process's backend left alone."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("matplotlib")

HISTORY = [
    {"epoch": 1, "phase": 1, "train_loss": 1.1, "valid_loss": 1.0, "valid_f1": 0.4},
    {
        "epoch": 2,
        "phase": 1,
        "train_loss": 0.7,
        "valid_loss": 0.8,
        "valid_f1": 0.6,
        "valid_f1_best": True,
    },
    {"epoch": 3, "phase": 2, "train_loss": 0.3, "valid_loss": 0.5, "valid_f1": 0.55},
]


def test_saving_figures_needs_no_pyplot_and_keeps_the_backend(tmp_path):
    # In a fresh interpreter, since this one's pyplot may be imported by other tests.
    script = textwrap.dedent(
        f"""
        import sys
        import matplotlib
        matplotlib.use("pdf")  # the user's choice, which skspectra must keep
        import numpy as np
        from skspectra import plotting
        folder = {str(tmp_path)!r}
        plotting.plot_history({HISTORY!r}, folder + "/h.png")
        plotting.plot_confusion_matrix(np.eye(2, dtype=int), ["a", "b"], folder + "/c.png")
        from skspectra.classifier import SpectrumCNNClassifier
        X = np.random.default_rng(0).normal(size=(30, 64)).astype(np.float32)
        y = np.repeat(["a", "b"], 15)
        X[y == "b", 30:34] += 3.0
        clf = SpectrumCNNClassifier(
            module__filters=(4, 4), max_epochs=1, f1_epochs=0, random_state=0
        ).fit(X, y)
        wl = np.linspace(4800.0, 5100.0, 64)
        fig = plotting.plot_attributions(clf, X, y, folder + "/e.png", wavelength=wl, n_steps=2)
        assert len(fig.axes) == 2, fig.axes
        assert "matplotlib.pyplot" not in sys.modules, "pyplot was imported"
        print(matplotlib.get_backend())
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "pdf"
    for name in ("h.png", "c.png", "e.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_figures_are_returned(tmp_path):
    import matplotlib
    import matplotlib.pyplot as plt

    from skspectra.plotting import plot_confusion_matrix, plot_history

    backend = matplotlib.get_backend()
    fig = plot_history(HISTORY)
    assert len(fig.axes) == 2 and fig.axes[1].get_title() == "Validation macro-F1"
    # The phase switch is marked between epochs 2 and 3, the kept weights at epoch 2.
    assert [line.get_xdata()[0] for line in fig.axes[0].lines if line.get_ls() == ":"] == [2.5]
    fig_cm = plot_confusion_matrix(np.array([[3, 1], [0, 4]]), ["star", "qso"], title="t")
    texts = [t.get_text() for t in fig_cm.axes[0].texts]
    assert texts == ["3", "1", "0", "4"] and fig_cm.axes[0].get_title() == "t"
    # Saved to a path, a figure is not left open in pyplot (the CLI draws many).
    open_figures = plt.get_fignums()
    plot_confusion_matrix(np.eye(2, dtype=int), ["a", "b"], tmp_path / "cm.png")
    assert (tmp_path / "cm.png").stat().st_size > 0 and plt.get_fignums() == open_figures
    assert matplotlib.get_backend() == backend
    plt.close("all")
