"""The README's explanation figure: which wavelengths decided each class of a synthetic survey.

    python -m benchmarks.explain_figure [--out docs/explain_example.png]

Fits the default pipeline (``FluxScaler()`` then ``SpectrumCNNClassifier(random_state=0)``) on
a ``make_spectra`` survey with equal class shares on a log grid, prints its test accuracy and
draws :func:`skspectra.plotting.plot_attributions` over the test spectra (each spectrum counted
once in its class's mean). Some minutes on two cores.
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.pipeline import make_pipeline

from skspectra import FluxScaler, SpectrumCNNClassifier, make_spectra
from skspectra.plotting import plot_attributions

SHARES = {"star": 0.25, "galaxy": 0.25, "qso": 0.25, "unknown": 0.25}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/explain_example.png")
    parser.add_argument("--n-spectra", type=int, default=1200, help="training spectra")
    parser.add_argument("--n-points", type=int, default=800, help="points of the log grid")
    args = parser.parse_args(argv)
    survey = dict(n_points=args.n_points, class_fractions=SHARES)
    train = make_spectra(args.n_spectra, random_state=0, **survey)
    test = make_spectra(400, random_state=1, **survey)
    model = make_pipeline(FluxScaler(), SpectrumCNNClassifier(random_state=0))
    model.fit(train.data, train.target)
    accuracy = np.mean(model.predict(test.data) == test.target)
    print(f"test accuracy {accuracy:.3f} on {len(test.target)} spectra")
    plot_attributions(model, test.data, test.target, args.out, wavelength=test.wavelength)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
