"""FITS layouts as surveys write them (SDSS, LAMOST, 1-D WCS images), written by astropy."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from skspectra.io import read_fits
from skspectra.io._fits import read_fits_spectrum

fits = pytest.importorskip("astropy.io.fits")

LINE = 6562.8  # Angstrom
N = 3000
LOG_START, LOG_STEP = np.log10(3700.0), 1e-4  # SDSS and LAMOST: log10 steps of 1e-4
BAD = (500, 1200, 2100)  # pixels made bad in each file: a spike of 1e4 behind ivar 0 or a mask


def true_loglinear(n=N):
    return 10.0 ** (LOG_START + LOG_STEP * np.arange(n))


def spectrum(wl):
    """Continuum 2, an emission line of 40 at H-alpha; float64."""
    return 2.0 + 40.0 * np.exp(-0.5 * ((wl - LINE) / 2.0) ** 2)


def with_bad_pixels(flux):
    flux = flux.astype(np.float32)
    ivar = np.ones_like(flux)
    mask = np.zeros(flux.shape, np.int32)
    flux[list(BAD)] = 1e4
    ivar[BAD[0]] = 0.0  # bad by inverse variance
    mask[BAD[1]] = 1 << 16  # bad by and-mask
    flux[BAD[2]] = np.nan  # not finite
    return flux, ivar, mask


def sdss_file(path):
    wl = true_loglinear()
    flux, ivar, mask = with_bad_pixels(spectrum(wl))
    loglam = (LOG_START + LOG_STEP * np.arange(N)).astype(np.float32)  # as SDSS stores it
    coadd = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="flux", format="E", array=flux),
            fits.Column(name="loglam", format="E", array=loglam),
            fits.Column(name="ivar", format="E", array=ivar),
            fits.Column(name="and_mask", format="J", array=mask),
            fits.Column(name="or_mask", format="J", array=mask | 2),
        ],
        name="COADD",
    )
    header = fits.Header({"TELESCOP": "SDSS 2.5-M"})
    fits.HDUList([fits.PrimaryHDU(header=header), coadd]).writeto(path)
    return wl


def lamost_table_file(path):
    """LAMOST DR5 and later: one row whose cells are the arrays."""
    wl = true_loglinear()
    flux, ivar, mask = with_bad_pixels(spectrum(wl))
    cells = [
        ("FLUX", flux),
        ("IVAR", ivar),
        ("WAVELENGTH", wl.astype(np.float32)),
        ("ANDMASK", mask.astype(np.float32)),
        ("ORMASK", (mask | 2).astype(np.float32)),
    ]
    table = fits.BinTableHDU.from_columns(
        [fits.Column(name=n, format=f"{N}E", array=a[None, :]) for n, a in cells], name="COADD"
    )
    header = fits.Header({"TELESCOP": "LAMOST", "CLASS": "GALAXY"})
    fits.HDUList([fits.PrimaryHDU(header=header), table]).writeto(path)
    return wl


def lamost_image_file(path):
    """LAMOST DR1-DR4: a 5-row primary image and COEFF0/COEFF1."""
    wl = true_loglinear()
    flux, ivar, mask = with_bad_pixels(spectrum(wl))
    image = np.vstack([flux, ivar, wl, mask, mask | 2]).astype(np.float32)
    header = fits.Header(
        {"TELESCOP": "LAMOST", "COEFF0": LOG_START, "COEFF1": LOG_STEP, "CLASS": "STAR"}
    )
    fits.PrimaryHDU(image, header).writeto(path)
    return wl


def wcs1d_file(path, keys, wl):
    """A 1-D image whose header gives `wl`; NaN at one pixel."""
    flux = spectrum(wl).astype(np.float32)
    flux[BAD[2]] = np.nan
    fits.PrimaryHDU(flux, fits.Header(keys)).writeto(path)


LINEAR = np.linspace(3700.0, 7700.0, N)  # 1.33 Angstrom pixels
STEP = LINEAR[1] - LINEAR[0]
WCS1D = {
    "angstrom": ({"CRVAL1": 3700.0, "CDELT1": STEP, "CUNIT1": "Angstrom"}, LINEAR),
    "nm": ({"CRVAL1": 370.0, "CD1_1": STEP / 10, "CUNIT1": "nm", "CTYPE1": "AWAV"}, LINEAR),
    "micron-crpix": (
        {"CRVAL1": 0.5, "CDELT1": STEP / 1e4, "CRPIX1": 1 + (5000 - 3700) / STEP, "CUNIT1": "um"},
        LINEAR,
    ),
    "wave-log": (
        # FITS WCS paper III: w = CRVAL1 exp(CDELT1 (p - CRPIX1) / CRVAL1).
        {"CTYPE1": "WAVE-LOG", "CRVAL1": 3700.0, "CDELT1": 3700.0 * LOG_STEP * np.log(10)},
        true_loglinear(),
    ),
    "dc-flag": (
        {"CRVAL1": LOG_START, "CDELT1": LOG_STEP, "DC-FLAG": 1, "CUNIT1": "Angstroms"},
        true_loglinear(),
    ),
}


# --------------------------------------------------------------------------------------------
# Wavelengths, units and media
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("writer", "layout"),
    [
        (sdss_file, "sdss-table"),
        (lamost_table_file, "lamost-table"),
        (lamost_image_file, "lamost-image"),
    ],
)
def test_survey_layouts_give_wavelengths_to_a_hundredth_of_an_angstrom(tmp_path, writer, layout):
    wl = writer(tmp_path / "a.fits")
    spectrum_ = read_fits_spectrum(tmp_path / "a.fits")
    assert np.abs(spectrum_.wavelength - wl).max() < 0.01
    assert spectrum_.meta["layout"] == layout and spectrum_.meta["medium"] == "vacuum"
    assert spectrum_.meta["n_bad"] == len(BAD) and not spectrum_.good[list(BAD)].any()
    assert_allclose(spectrum_.ivar[list(BAD)], 0.0)


@pytest.mark.parametrize("name", list(WCS1D))
def test_wcs1d_units_and_log_grids(tmp_path, name):
    keys, wl = WCS1D[name]
    wcs1d_file(tmp_path / f"{name}.fits", keys, wl)
    spectrum_ = read_fits_spectrum(tmp_path / f"{name}.fits")
    assert np.abs(spectrum_.wavelength - wl).max() < 0.01
    assert spectrum_.meta["layout"] == "wcs1d" and spectrum_.meta["n_bad"] == 1
    assert spectrum_.meta["medium"] == {"nm": "air", "wave-log": "vacuum"}.get(name, "unknown")
    # The line lands where it is, whatever the unit (nm read as nm is no all-NaN row).
    grid = np.arange(4000.0, 7000.0, 2.0)
    X = read_fits(tmp_path / f"{name}.fits", wavelength=grid).X
    assert np.isfinite(X).all()
    assert abs(grid[np.argmax(X[0])] - LINE) <= 2.0
    assert_allclose(np.median(X[0]), 2.0, rtol=1e-3)


def test_units_that_are_no_length_name_the_file(tmp_path):
    wcs1d_file(tmp_path / "hz.fits", {"CRVAL1": 1e14, "CDELT1": 1e10, "CUNIT1": "Hz"}, LINEAR)
    with pytest.raises(ValueError, match=r"hz.fits: its wavelength unit 'Hz' is not a length"):
        read_fits(tmp_path / "hz.fits", wavelength=LINEAR)


# --------------------------------------------------------------------------------------------
# Bad pixels, on the file's grid and resampled
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("writer", [sdss_file, lamost_table_file, lamost_image_file])
@pytest.mark.parametrize("grid", [None, np.arange(3800.0, 7000.0, 3.0)])
def test_bad_pixels_are_never_above_their_neighbours(tmp_path, writer, grid):
    wl = writer(tmp_path / "a.fits")
    spectra = read_fits(tmp_path / "a.fits", wavelength=grid)
    X = spectra.X[0]
    grid = spectra.wavelength
    assert np.isfinite(X).all() and X.max() < 50.0  # no 1e4 survives (the line peaks at 42)
    for b in BAD:
        near = np.abs(grid - wl[b]) < 4.0
        neighbours = spectrum(wl[[b - 2, b + 2]])
        assert (X[near] <= neighbours.max() + 1e-3).all()
    assert spectra.meta["n_bad"].tolist() == [len(BAD)]
    assert spectra.meta["ivar"].shape == spectra.X.shape


def test_ivar_is_propagated_and_flux_conserved_onto_a_coarser_grid(tmp_path):
    wl = sdss_file(tmp_path / "a.fits")
    grid = np.arange(6400.0, 6700.0, 10.0)  # about 8 input pixels per output pixel
    spectra = read_fits(tmp_path / "a.fits", wavelength=grid)
    # The line's flux above the continuum: 40 * 2 * sqrt(2 pi) = 200.5 (conserved to 1e-3).
    assert np.sum((spectra.X[0] - 2.0) * 10.0) == pytest.approx(40 * 2 * np.sqrt(2 * np.pi), 1e-3)
    # ivar 1 per input pixel of width w: an output pixel of width 10 has ivar ~ 10 / w.
    width = np.interp(grid, wl[1:], np.diff(wl))
    assert_allclose(spectra.meta["ivar"][0], 10.0 / width, rtol=0.15)


def test_too_few_good_pixels_name_the_file(tmp_path):
    sdss_file(tmp_path / "good.fits")
    flux = np.ones(200, np.float32)
    flux[:150] = np.nan
    fits.PrimaryHDU(flux, fits.Header({"CRVAL1": 4000.0, "CDELT1": 1.0})).writeto(
        tmp_path / "holey.fits"
    )
    grid = np.arange(4050.0, 4150.0, 2.0)
    with pytest.raises(ValueError, match=r"holey.fits: only 50 of 200 pixels are good"):
        read_fits(tmp_path, wavelength=grid)
    with pytest.warns(UserWarning, match="skipped 1 of 2"):
        spectra = read_fits(tmp_path, wavelength=grid, on_error="skip")
    assert spectra.ids.tolist() == ["good"] and "min_good" in spectra.skipped["holey"]
    # A lower bar accepts it, its 150 bad pixels counted.
    spectra = read_fits(tmp_path / "holey.fits", wavelength=[4160.0, 4170.0], min_good=0.2)
    assert spectra.meta["n_bad"].tolist() == [150]
    with pytest.raises(ValueError, match="min_good must be a fraction"):
        read_fits(tmp_path, min_good=2)


def test_files_outside_the_grid_and_labels(tmp_path):
    lamost_table_file(tmp_path / "a.fits")
    lamost_image_file(tmp_path / "b.fits")
    spectra = read_fits(
        tmp_path, wavelength=np.arange(3600.0, 7000.0, 2.0), label_key="CLASS", fill_value=0.0
    )
    assert spectra.y.tolist() == ["GALAXY", "STAR"]
    assert (spectra.X[:, :50] == 0).all()  # before 3700 Angstrom
    assert spectra.meta["layout"].tolist() == ["lamost-table", "lamost-image"]
    assert spectra.meta["medium"].tolist() == ["vacuum", "vacuum"]


# One epoch is enough to compare predictions, not to learn: the classifier says so.
@pytest.mark.filterwarnings("ignore:The network did not learn:UserWarning")
def test_a_pipeline_predicts_fits_files_on_other_grids_as_if_put_on_its_grid_by_hand(tmp_path):
    from sklearn.pipeline import make_pipeline

    from skspectra.classifier import SpectrumCNNClassifier
    from skspectra.resampling import SpectrumResampler, resample_spectra
    from skspectra.scaler import FluxScaler

    from .conftest import make_lines

    X, y = make_lines(n=60, n_points=64)
    X += 5.0  # positive fluxes, as in files
    grid = np.linspace(5000.0, 5630.0, 64)
    pipe = make_pipeline(
        SpectrumResampler(wavelength=grid),
        FluxScaler(),
        SpectrumCNNClassifier(module__filters=(4, 4), max_epochs=1, f1_epochs=0, random_state=0),
    ).fit(X, y)
    # Three spectra written on other grids: in nm (linear), and log-linear in Angstrom.
    nm = np.linspace(498.0, 565.0, 300)
    loglam = np.log10(4990.0) + 1e-4 * np.arange(560)
    native = []
    for i, (keys, wl) in enumerate(
        [
            ({"CRVAL1": 498.0, "CDELT1": nm[1] - nm[0], "CUNIT1": "nm"}, nm * 10),
            ({"COEFF0": loglam[0], "COEFF1": 1e-4}, 10**loglam),
            ({"CRVAL1": 498.0, "CDELT1": nm[1] - nm[0], "CUNIT1": "nm"}, nm * 10),
        ]
    ):
        flux = resample_spectra(X[i], grid, wl, fill_value=5.0).flux
        fits.PrimaryHDU(flux.astype(np.float32), fits.Header(keys)).writeto(tmp_path / f"{i}.fits")
        native.append((wl, flux.astype(np.float32).astype(np.float64)))
    spectra = read_fits(tmp_path, wavelength=pipe[0].wavelength_)
    by_hand = np.vstack([resample_spectra(f, wl, grid).flux for wl, f in native])
    assert_allclose(spectra.X, by_hand, rtol=1e-5)
    assert_allclose(
        pipe.predict_proba(spectra.X), pipe[1:].predict_proba(by_hand.astype(np.float32)), atol=1e-6
    )


def test_files_that_miss_the_grid_are_refused_with_both_ranges(tmp_path):
    sdss_file(tmp_path / "a.fits")  # 3700 to 7381 Angstrom
    keys, wl = WCS1D["nm"]
    wcs1d_file(tmp_path / "b.fits", keys, wl)  # 3700 to 7700 Angstrom
    grid = np.arange(4000.0, 7600.0, 5.0)
    with pytest.raises(
        ValueError,
        match=r"a.fits: covers 3700 to 7380.77 Angstrom, but the grid needs 4000 to 7595",
    ):
        read_fits(tmp_path, wavelength=grid, fill_value=None)
    with pytest.warns(UserWarning, match="skipped 1 of 2"):
        spectra = read_fits(tmp_path, wavelength=grid, fill_value=None, on_error="skip")
    assert spectra.ids.tolist() == ["b"] and np.isfinite(spectra.X).all()
    # A grid both cover: both read.
    assert read_fits(tmp_path, wavelength=grid[:-50], fill_value=None).X.shape == (2, 670)


# --------------------------------------------------------------------------------------------
# SDSS spPlate: one spectrum per fibre
# --------------------------------------------------------------------------------------------

PLATE_FIBERS = 4


def plate_file(path, n_fibers=PLATE_FIBERS, plugmap=True):
    """The layout of SDSS spPlate files: fluxes (one row per fibre) in the primary image on the
    COEFF0/COEFF1 grid, inverse variances in HDU 1, the and-mask in HDU 2, the or-mask and the
    dispersion in HDUs 3-4, the plug map in HDU 5 and the sky in HDU 6. Fibre k's line is at
    H-alpha times (1 + k / 100); fibre 2 has the bad pixels, fibre 3 no good pixel at all."""
    wl = true_loglinear()
    flux = np.empty((n_fibers, N), np.float32)
    ivar = np.ones((n_fibers, N), np.float32)
    mask = np.zeros((n_fibers, N), np.int32)
    for k in range(n_fibers):
        flux[k] = 2.0 + 40.0 * np.exp(-0.5 * ((wl - LINE * (1 + k / 100)) / 2.0) ** 2)
    flux[1], ivar[1], mask[1] = with_bad_pixels(flux[1].astype(np.float64))
    ivar[2] = 0.0
    header = fits.Header(
        {"TELESCOP": "SDSS 2.5-M", "PLATEID": 3586, "MJD": 55181, "CLASS": "PLATE"}
    )
    header["COEFF0"], header["COEFF1"] = LOG_START, LOG_STEP
    hdus = [
        fits.PrimaryHDU(flux, header),
        fits.ImageHDU(ivar),
        fits.ImageHDU(mask),
        fits.ImageHDU(mask | 2),
        fits.ImageHDU(np.ones_like(flux)),
    ]
    if plugmap:
        fibers = np.arange(1, n_fibers + 1, dtype=np.int32)
        objtype = np.resize(["QSO", "GALAXY", "SKY", "SPECTROPHOTO_STD"], n_fibers)
        hdus.append(
            fits.BinTableHDU.from_columns(
                [
                    fits.Column(name="FIBERID", format="J", array=fibers),
                    fits.Column(name="OBJTYPE", format="16A", array=objtype),
                ]
            )
        )
    hdus.append(fits.ImageHDU(np.zeros_like(flux)))  # HDU 6: the sky (or 5 without a plug map)
    fits.HDUList(hdus).writeto(path)
    return wl


def test_plate_fibres_are_spectra_of_their_own_with_wavelengths_and_bad_pixels(tmp_path):
    wl = plate_file(tmp_path / "spPlate-3586-55181.fits")
    with pytest.warns(UserWarning, match="skipped 1 of 4 spectra"):
        spectra = read_fits(tmp_path, label_key="OBJTYPE", on_error="skip")
    # Fibre 3 has no good pixel: dropped on its own, with the file and the fibre named.
    assert spectra.ids.tolist() == [
        "spPlate-3586-55181-0001",
        "spPlate-3586-55181-0002",
        "spPlate-3586-55181-0004",
    ]
    assert "fibre 3: only 0 of 3000 pixels are good" in spectra.skipped["spPlate-3586-55181-0003"]
    assert spectra.y.tolist() == ["QSO", "GALAXY", "SPECTROPHOTO_STD"]
    assert np.abs(spectra.wavelength - wl).max() < 0.01
    assert spectra.meta["layout"].tolist() == ["sdss-plate"] * 3
    assert spectra.meta["medium"].tolist() == ["vacuum"] * 3
    assert spectra.meta["n_bad"].tolist() == [0, len(BAD), 0]
    # Each fibre's own line, where it was written.
    for row, k in zip(range(3), (0, 1, 3), strict=True):
        assert abs(wl[np.argmax(spectra.X[row])] - LINE * (1 + k / 100)) < 2.0
    # The bad pixels of fibre 2 are filled from their neighbours: no 1e4, no NaN.
    assert np.isfinite(spectra.X).all() and spectra.X[1].max() < 50.0
    for b in BAD:
        assert spectra.X[1, b] <= spectra.X[1, [b - 2, b + 2]].max() + 1e-3
        assert spectra.meta["ivar"][1, b] == 0.0
    with pytest.raises(ValueError, match=r"spPlate-3586-55181.fits fibre 3: only 0 of 3000"):
        read_fits(tmp_path)


def test_plate_fibres_resampled_and_read_one_by_one(tmp_path):
    wl = plate_file(tmp_path / "spPlate-1-2.fits", plugmap=False)
    grid = np.arange(6400.0, 6900.0, 10.0)
    with pytest.warns(UserWarning, match="skipped 1 of 4 spectra"):
        spectra = read_fits(tmp_path / "spPlate-1-2.fits", wavelength=grid, on_error="skip")
    assert spectra.X.shape == (3, len(grid)) and spectra.ids[-1] == "spPlate-1-2-0004"
    # Flux conserved: each line's flux above the continuum, 40 * 2 * sqrt(2 pi).
    assert_allclose(np.sum((spectra.X - 2.0) * 10.0, axis=1), 40 * 2 * np.sqrt(2 * np.pi), 1e-3)
    # Without a plug map: labels from the primary header, the same for every fibre.
    with pytest.warns(UserWarning, match="skipped 1 of 4 spectra"):
        labelled = read_fits(tmp_path, label_key="CLASS", on_error="skip")
    assert labelled.y.tolist() == ["PLATE"] * 3
    one = read_fits_spectrum(tmp_path / "spPlate-1-2.fits", fiber=2)
    assert np.abs(one.wavelength - wl).max() < 0.01
    assert one.meta["fiber"] == 2 and one.meta["n_bad"] == len(BAD)
    with pytest.raises(ValueError, match=r"spPlate file of 4 spectra \(fibres 1 to 4\): pass"):
        read_fits_spectrum(tmp_path / "spPlate-1-2.fits")
    # A LAMOST DR1-DR4 image (5 rows, COEFF0, no second image) is still one spectrum.
    lamost_image_file(tmp_path / "lamost.fits")
    assert read_fits_spectrum(tmp_path / "lamost.fits").meta["layout"] == "lamost-image"
