"""Crafted ``.skspectra`` files: each is refused with a ValueError naming the file and the field,
before it can allocate, and random mutations of a good file either load or raise ValueError
under a memory cap (issue 27, item 1)."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.pipeline import make_pipeline

from skspectra import FluxScaler, SpectrumCNNClassifier
from skspectra.persistence import load, save

from .conftest import make_lines

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(
    max_epochs=1,
    f1_epochs=0,
    batches_per_epoch=2,
    module__filters=(4, 4),
    module__hidden_units=None,
    random_state=0,
)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    X, y = make_lines(n=30, n_points=32)
    model = make_pipeline(FluxScaler(), SpectrumCNNClassifier(**TINY)).fit(X, y)
    torch.set_num_threads(threads)
    return save(model, tmp_path_factory.mktemp("good") / "good.skspectra")


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _write(target: Path, members: dict[str, bytes], compress=zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(target, "w", compression=compress) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return target


def _with(good: Path, target: Path, edit) -> Path:
    """A copy of ``good`` whose description is ``edit(description)`` (edited in place)."""
    members = _members(good)
    description = json.loads(members["skspectra.json"])
    edit(description)
    members["skspectra.json"] = json.dumps(description).encode()
    return _write(target, members)


def _set_params(**params):
    def edit(d):
        d["classifier"]["params"].update(params)

    return edit


def _lie_about_size(path: Path, name: str, size: int) -> Path:
    """Rewrite the uncompressed size of ``name`` in the archive's central directory."""
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        name_len = struct.unpack("<H", data[at + 28 : at + 30])[0]
        if data[at + 46 : at + 46 + name_len] == name.encode():
            data[at + 24 : at + 28] = struct.pack("<I", size)
        at = data.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(data))
    return path


def _bomb(target: Path, name: str, start: bytes, fill: bytes, size: int, others) -> Path:
    """An archive whose member ``name`` is ``start`` then ``fill`` bytes up to ``size``,
    deflated (so a few hundred kB on disk), written in blocks to keep the test's memory low."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for other, content in others.items():
            if other != name:
                archive.writestr(other, content)
        with archive.open(name, "w", force_zip64=False) as member:
            member.write(start)
            block = fill * (1 << 20)
            for _ in range(size >> 20):
                member.write(block)
    return target


def crafted_files(good: Path, folder: Path) -> dict[str, tuple[Path, str]]:
    """Each crafted file and the field its error must name."""
    folder.mkdir(exist_ok=True)
    members = _members(good)
    description = json.loads(members["skspectra.json"])
    cases = {}

    def case(name, edit, field):
        cases[name] = (_with(good, folder / f"{name}.skspectra", edit), field)

    case(
        "criterion_linear",
        _set_params(
            criterion={"class": "torch.nn.Linear"},
            criterion__in_features=20000,
            criterion__out_features=20000,
        ),
        "classifier.params.criterion",
    )

    def huge_labels(d):
        d["classifier"]["classes_"]["dtype"] = "<U100000000"

    case("label_dtype", huge_labels, "classifier.classes_.dtype")
    case(
        "filters_4000",
        _set_params(module__filters={"tuple": [4000, 4000]}),
        "classifier.params",
    )
    case(
        "filters_40000",
        _set_params(module__filters={"tuple": [40000, 40000]}),
        "classifier.params.module__filters",
    )
    case(
        "filters_many",
        _set_params(module__filters={"tuple": [8] * 10000}),
        "classifier.params.module__filters",
    )

    def networks(d):
        d["classifier"]["n_networks_"] = 20000

    case("n_networks", networks, "classifier.n_networks_")

    def duplicate(d):
        values = d["classifier"]["classes_"]["values"]
        values[1] = values[0]

    case("duplicate_classes", duplicate, "classifier.classes_.values")

    def unsorted(d):
        d["classifier"]["classes_"]["values"].reverse()

    case("unsorted_classes", unsorted, "classifier.classes_.values")

    def medain(d):
        d["transformers"][0]["params"]["method"] = "medain"

    case("scaler_method", medain, "transformers[0].params.method")

    def os_system(d):
        d["classifier"]["params"]["optimizer"] = {"class": "os.system"}

    case("os_system", os_system, "classifier.params.optimizer")
    case(
        "workers",
        _set_params(iterator_valid__num_workers=10000),
        "classifier.params.iterator_valid__num_workers",
    )
    case("hidden", _set_params(module__hidden_units=10**9), "classifier.params.module__hidden")
    case("points", lambda d: d["classifier"].update(n_features_in_=10**12), "n_features_in_")
    case(
        "net_as_criterion",
        _set_params(criterion={"class": "skspectra.SpectrumResNet"}),
        "classifier.params.criterion",
    )
    case(
        "unknown_network_parameter",
        _set_params(module__width=10**9),
        "classifier.params.module__width",
    )

    def manifest_lies(d):
        tensors = d["classifier"]["weights"]["tensors"]
        tensors[next(iter(tensors))]["shape"] = [10**9]

    case("manifest", manifest_lies, "classifier.weights.tensors")

    def object_params(d):
        d["classifier"]["params"]["augment"] = {"object": ["SpectrumAugmentation", "x"]}

    case("object_params", object_params, "classifier.params.augment")

    # JSON nested 100 000 levels deep: RecursionError in json.loads, were it parsed.
    deep = dict(members)
    deep["skspectra.json"] = b"[" * 100_000 + b"]" * 100_000
    cases["deep_json"] = (_write(folder / "deep_json.skspectra", deep), "skspectra.json")

    # A description that inflates to 100 MB (whitespace is valid JSON), truthfully declared...
    bomb = _bomb(
        folder / "json_bomb.skspectra",
        "skspectra.json",
        members["skspectra.json"],
        b" ",
        100 << 20,
        members,
    )
    cases["json_bomb"] = (bomb, "skspectra.json")
    # ... and with its size in the directory understated: inflating stops at the cap.
    liar = folder / "json_bomb_liar.skspectra"
    liar.write_bytes(bomb.read_bytes())
    cases["json_bomb_liar"] = (_lie_about_size(liar, "skspectra.json", 1000), "corrupted")

    # Weights that inflate to 200 MB of zeros.
    weights_bomb = _bomb(
        folder / "weights_bomb.skspectra", "weights.pt", b"", b"\0", 200 << 20, members
    )
    cases["weights_bomb"] = (weights_bomb, "weights.pt")
    liar = folder / "weights_bomb_liar.skspectra"
    liar.write_bytes(weights_bomb.read_bytes())
    cases["weights_bomb_liar"] = (
        _lie_about_size(liar, "weights.pt", len(members["weights.pt"])),
        "corrupted",
    )

    # A member flagged as encrypted: zipfile raises RuntimeError, which must not escape.
    encrypted = folder / "encrypted.skspectra"
    raw = bytearray(good.read_bytes())
    at = raw.find(b"PK\x01\x02")
    raw[at + 8] |= 1
    encrypted.write_bytes(bytes(raw))
    cases["encrypted"] = (encrypted, "encrypted")

    # An archive of many members: zipfile would build an object for each.
    many = folder / "many_members.skspectra"
    with zipfile.ZipFile(many, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
        for i in range(2000):
            archive.writestr(f"x{i}", b"")
    cases["many_members"] = (many, "archive")
    del description
    return cases


@pytest.fixture(scope="module")
def crafted(good, tmp_path_factory):
    return crafted_files(good, tmp_path_factory.mktemp("crafted"))


def test_every_crafted_file_is_a_value_error_naming_file_and_field(crafted):
    for name, (path, field) in crafted.items():
        with pytest.raises(ValueError) as info:
            load(path)
        message = str(info.value)
        assert str(path) in message, name
        assert field in message, (name, message)


def test_a_parameter_the_classifier_no_longer_has_is_left_out_with_a_warning(good, tmp_path):
    path = _with(good, tmp_path / "old.skspectra", _set_params(retired_option="auto"))
    with pytest.warns(UserWarning, match="no longer has or no longer accepts.*retired_option"):
        model = load(path)
    assert "retired_option" not in model[-1].get_params()


def test_a_value_the_classifier_no_longer_accepts_is_left_out_with_a_warning(good, tmp_path):
    # "auto" was a valid batch size before the classifier's defaults were fixed.
    path = _with(good, tmp_path / "old.skspectra", _set_params(max_epochs="many"))
    with pytest.warns(UserWarning, match="max_epochs='many'"):
        model = load(path)
    assert model[-1].max_epochs == SpectrumCNNClassifier().max_epochs


def test_a_version_1_file_with_a_scaler_loads(good, tmp_path):
    def version_1(d):
        d["format_version"] = 1
        d["scaler"] = d.pop("transformers")[0]

    model = load(_with(good, tmp_path / "v1.skspectra", version_1))
    X = make_lines(n=5, n_points=32)[0]
    np.testing.assert_array_equal(model.predict_proba(X), load(good).predict_proba(X))


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and /dev/zero")
def test_a_fifo_or_a_device_as_model_file_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "model.skspectra"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="FIFO"):
        load(fifo)
    with pytest.raises(ValueError, match="device"):
        load("/dev/zero")


# ---------------------------------------------------------------------------- fuzzing
# Runs in a child process whose address space is capped: an allocation a crafted file could
# force beyond the cap raises MemoryError there, which fails the test.
_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    import torch
    torch.set_num_threads(1)
    from skspectra.persistence import load
    from tests.test_hostile_persistence import fuzz

    def vm_bytes():
        with open("/proc/self/status") as status:
            line = next(l for l in status if l.startswith("VmSize:"))
        return int(line.split()[1]) * 1024

    good, folder, crafted, examples = sys.argv[1:5]
    load(good)  # warm every lazy import and allocator before the cap
    cap = vm_bytes() + (768 << 20)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peaks = {}
    for name, path in json.loads(crafted).items():
        try:
            load(path)
        except ValueError:
            pass
        peaks[name] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024
    fuzz(good, folder, int(examples))
    print(json.dumps(peaks))
    """
)


def fuzz(good: str, folder: str, max_examples: int) -> None:
    """Mutate ``good`` (its description's values and keys, and its bytes) and load each
    mutation: it must load or raise ValueError, nothing else."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    members = _members(Path(good))
    description = json.loads(members["skspectra.json"])
    raw = Path(good).read_bytes()
    target = Path(folder) / "mutant.skspectra"
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.sampled_from([0, -1, 1, 2**31, 2**63, 10**9]),
        st.floats(allow_nan=False),
        st.text(max_size=20),
        st.sampled_from(["<U100000000", "torch.nn.Linear", "auto", "|O", "<f8", "cuda:7"]),
    )
    values = st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.sampled_from(["tuple", "dict", "float", "class", "object", "x"]),
                inner,
                max_size=2,
            )
        ),
        max_leaves=8,
    )

    def paths(node, prefix=()):
        yield prefix
        if isinstance(node, dict):
            for key, value in node.items():
                yield from paths(value, (*prefix, key))
        elif isinstance(node, list):
            for i, value in enumerate(node[:3]):
                yield from paths(value, (*prefix, i))

    every_path = [p for p in paths(description) if p]

    def check_load():
        try:
            load(target)
        except ValueError:
            pass

    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.sampled_from(every_path), values, st.booleans())
    def mutate_description(path, value, delete):
        copy = json.loads(json.dumps(description))
        node = copy
        for key in path[:-1]:
            node = node[key]
        if delete and isinstance(node, dict):
            del node[path[-1]]
        else:
            node[path[-1]] = value
        _write(target, {**members, "skspectra.json": json.dumps(copy).encode()})
        check_load()

    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(st.tuples(st.integers(0, len(raw) - 1), st.integers(1, 255)), max_size=4))
    def flip_bytes(flips):
        data = bytearray(raw)
        for at, mask in flips:
            data[at] ^= mask
        target.write_bytes(bytes(data))
        check_load()

    mutate_description()
    flip_bytes()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc")
def test_fuzzed_and_crafted_files_load_or_fail_cleanly_within_a_memory_cap(good, crafted, tmp_path):
    paths = json.dumps({name: str(path) for name, (path, _) in crafted.items()})
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(good), str(tmp_path), paths, "30"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    peaks = json.loads(result.stdout.strip().splitlines()[-1])
    # Growth of the peak resident memory over loading the good file, in MB.
    assert max(peaks.values()) < 100, peaks
