"""The seed network in its own framework (Keras 3), timed for ``benchmarks.speed``.

Run as a separate process (``python -m benchmarks._keras_speed``) so that TensorFlow and PyTorch
never share a process: each loads its own oneDNN and OpenMP. Prints one JSON object.
The model follows ``SEED_MODEL.md``: blocks of 16..128 filters, three dilated convolutions (1, 2,
4) each folded to half its channels, 1x1 shortcut when the width changes, max pool after each of
the first seven blocks, spatial dropout 0.5, global max pool, dense 128, softmax.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def build(keras, n_points: int, n_classes: int):
    layers = keras.layers
    inputs = keras.Input((n_points, 1))
    x = inputs
    filters = (16, 16, 32, 32, 64, 64, 128, 128)
    for i, f in enumerate(filters):
        out = x
        for dilation in (1, 2, 4):
            out = layers.Conv1D(
                2 * f, 3, dilation_rate=dilation, padding="same", activation="relu"
            )(out)
            out = layers.Add()([out[:, :, :f], out[:, :, f:]])
        shortcut = x if x.shape[-1] == f else layers.Conv1D(f, 1)(x)
        x = layers.Add()([shortcut, out])
        if i < len(filters) - 1:
            x = layers.MaxPooling1D(2)(x)
    x = layers.SpatialDropout1D(0.5)(x)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dense(128, activation="relu")(x)
    outputs = layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def rate(fn, batch: int, repeats: int) -> float:
    """Spectra/s: the median of ``repeats`` timed calls after an untimed one (graph tracing),
    the statistic ``benchmarks.speed`` reports for skspectra too."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return batch / statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-points", type=int, default=2600)
    parser.add_argument("--batch", type=int, default=160)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        import keras
        import numpy as np
        import tensorflow as tf
    except ImportError as exc:
        print(json.dumps({"available": False, "reason": str(exc)}))
        return 0
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(0)
    model = build(keras, args.n_points, 4)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, args.n_points, 1)).astype("float32")
    y = rng.integers(0, 4, args.batch)
    result = {
        "available": True,
        "versions": {"keras": keras.__version__, "tensorflow": tf.__version__},
        "parameters": int(model.count_params()),
        "batch": args.batch,
        "train_spectra_per_s": rate(lambda: model.train_on_batch(x, y), args.batch, args.repeats),
        "predict_spectra_per_s": rate(lambda: model.predict_on_batch(x), args.batch, args.repeats),
    }
    xla = keras.Model(model.inputs, model.outputs)
    xla.compile(jit_compile=True)
    try:
        result["predict_xla_spectra_per_s"] = rate(
            lambda: xla.predict_on_batch(x), args.batch, args.repeats
        )
    except Exception as exc:  # XLA is not in every TensorFlow build
        result["predict_xla_error"] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
