"""The command line with wavelengths: train on FITS files onto a grid, predict FITS files on
other grids by the model's own grid, and the explanation plot."""

import csv

import numpy as np
import pytest

from skspectra.cli import main

from .conftest import make_lines

fits = pytest.importorskip("astropy.io.fits")

GRID = "4000:5000:64"


def _write_wcs1d(folder, X, y, start, step, unit="Angstrom"):
    """One 1-D image a spectrum, its grid in the header (CRVAL1, CDELT1, CUNIT1), its label
    under CLASS."""
    folder.mkdir()
    for i, (flux, label) in enumerate(zip(X, y, strict=True)):
        hdu = fits.PrimaryHDU(flux.astype(np.float32))
        hdu.header.update(CRVAL1=start, CDELT1=step, CRPIX1=1, CUNIT1=unit, CLASS=str(label))
        hdu.writeto(folder / f"s{i:03d}.fits")
    return folder


def _spectra(n, points, seed=0):
    """Toy spectra on ``points`` wavelengths 4000-5000 A: the line of each class sits at the
    same wavelengths whatever the sampling."""
    grid = np.linspace(4000.0, 5000.0, 64)
    X, y = make_lines(n=n, n_points=64, seed=seed)
    wl = np.linspace(3990.0, 5010.0, points)
    return np.array([np.interp(wl, grid, row) for row in X]), y, wl


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("fits")
    X, y, wl = _spectra(90, 120)
    train = _write_wcs1d(root / "train", X, y, wl[0], wl[1] - wl[0])
    model = root / "model.skspectra"
    argv = ["train", str(train), "--label-key", "CLASS", "--wavelength", GRID, "--out", str(model)]
    fast = ["--epochs", "8", "--f1-epochs", "2", "--filters", "8,8,16", "--seed", "0", "--quiet"]
    assert main([*argv, *fast]) == 0
    return root, model


def test_a_model_trained_with_a_grid_predicts_fits_on_other_grids(trained):
    from skspectra import load

    root, model = trained
    pipe = load(model)
    np.testing.assert_allclose(pipe[0].wavelength_, np.linspace(4000.0, 5000.0, 64))
    # New spectra, sampled twice as finely and in nm: resampled onto the model's grid by itself.
    X, y, wl = _spectra(30, 240, seed=1)
    new = _write_wcs1d(root / "new", X, y, wl[0] / 10, (wl[1] - wl[0]) / 10, unit="nm")
    out = root / "pred.csv"
    assert main(["predict", str(model), str(new), "--out", str(out), "--quiet"]) == 0
    with open(out) as handle:
        rows = list(csv.reader(handle))[1:]
    predicted = np.array([r[1] for r in rows])
    assert (predicted == y).mean() > 0.8
    # The same as spectra put on the grid by hand.
    from skspectra.resampling import resample_spectra

    by_hand = resample_spectra(X, wl, pipe[0].wavelength_).flux
    np.testing.assert_array_equal(predicted, pipe.predict(by_hand.astype(np.float32)))


def test_evaluate_explains_with_a_figure(trained):
    root, model = trained
    X, y, wl = _spectra(30, 120, seed=2)
    data = _write_wcs1d(root / "labelled", X, y, wl[0], wl[1] - wl[0])
    figure = root / "explain.png"
    argv = ["evaluate", str(model), str(data), "--label-key", "CLASS", "--explain", str(figure)]
    assert main(argv) == 0
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_bad_grid_is_refused_before_anything_is_read(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", str(tmp_path / "nothing"), "--wavelength", "5000:4000:10", "--out", "m"])
    assert "wavelength" in capsys.readouterr().err
