"""Tests of skspectra.io: the readers, their cache and their error messages."""

from __future__ import annotations

import os
import pickle
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import skspectra.io._contest as contest_module
import skspectra.io._parallel as parallel_module
from skspectra.io import (
    CONTEST_LABELS,
    Spectra,
    SpectraReadWarning,
    read_contest,
    read_csv,
    read_fits,
    read_npy,
    read_npz,
    read_spectra,
)

N_SPECTRA, N_POINTS = 20, 50
HOUR_NS = 3600 * 10**9


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def write_spectrum(path: Path, values: np.ndarray) -> None:
    # repr of the float64 of a float32 parses back to exactly that float32.
    path.write_text(",".join(repr(float(v)) for v in values) + "\n")


def age(*paths: Path, seconds_ago: int = 3600) -> None:
    """Date files back, as data sets are: files written just now are not trusted by the cache."""
    then = time.time_ns() - seconds_ago * 10**9
    for path in paths:
        os.utime(path, ns=(then, then))


def make_contest(root: Path, *, labelled: bool = True, old: bool = True, seed: int = 0):
    rng = np.random.default_rng(seed)
    # Shuffled, zero-padded ids: order and leading zeros must both survive.
    ids = [f"{i:04d}" for i in rng.permutation(N_SPECTRA) + 7]
    X = rng.normal(100.0, 30.0, (N_SPECTRA, N_POINTS)).astype(np.float32)
    y = rng.choice(CONTEST_LABELS, N_SPECTRA)
    folder = root / "train"
    folder.mkdir()
    for i, row in zip(ids, X, strict=True):
        write_spectrum(folder / f"{i}.txt", row)
    index = root / "index.csv"
    if labelled:
        index.write_text("id,type\n" + "".join(f"{i},{t}\n" for i, t in zip(ids, y, strict=True)))
    else:
        index.write_text("id\n" + "".join(f"{i}\n" for i in ids))
    if old:
        age(*folder.iterdir())
    return index, folder, ids, X, y


@pytest.fixture
def contest(tmp_path):
    return make_contest(tmp_path)


@pytest.fixture
def spy(monkeypatch):
    """Record every path the contest reader parses."""
    parsed: list[str] = []
    real = contest_module._parse_chunk

    def parse_chunk(paths, n_points):
        parsed.extend(os.path.basename(p) for p in paths)
        return real(paths, n_points)

    monkeypatch.setattr(contest_module, "_parse_chunk", parse_chunk)
    return parsed


def cache_files(root: Path) -> list[str]:
    return sorted(p.name for p in (root / ".skspectra_cache").iterdir())


# --------------------------------------------------------------------------------------------
# The contest layout
# --------------------------------------------------------------------------------------------


def test_contest_labelled_round_trip(contest):
    index, folder, ids, X, y = contest
    spectra = read_contest(index, folder)
    assert isinstance(spectra, Spectra)
    X_read, y_read, ids_read, wavelength = spectra
    assert X_read.dtype == np.float32
    np.testing.assert_array_equal(X_read, X)
    assert ids_read.tolist() == ids  # the order of the index, leading zeros kept
    assert y_read.tolist() == y.tolist()
    assert wavelength is None
    assert spectra.skipped == {}


def test_contest_unlabelled(tmp_path):
    index, folder, ids, X, _ = make_contest(tmp_path, labelled=False)
    X_read, y_read, ids_read, _ = read_contest(index, folder, cache=False)
    assert y_read is None
    np.testing.assert_array_equal(X_read, X)
    assert ids_read.tolist() == ids
    assert not (tmp_path / ".skspectra_cache").exists()


def test_contest_accepts_whitespace_and_trailing_comma(tmp_path):
    folder = tmp_path / "train"
    folder.mkdir()
    (folder / "a.txt").write_text(" 1.5, -2e3 ,+.5,\r\n\n")
    (folder / "b.txt").write_text("4,5.,6")
    (tmp_path / "index.csv").write_text("id,type\na,star\n\nb,qso\n")
    X, y, ids, _ = read_contest(tmp_path / "index.csv", folder, cache=False)
    np.testing.assert_array_equal(X, [[1.5, -2000.0, 0.5], [4.0, 5.0, 6.0]])
    assert ids.tolist() == ["a", "b"]


def test_fast_chunk_parser_agrees_with_exact_parser(tmp_path):
    rng = np.random.default_rng(1)
    texts = [
        ",".join(f"{v:{fmt}}" for v in rng.normal(0, 1e3, N_POINTS))
        for fmt in (".6f", ".3e", ".9g", "+.2f", "")
    ]
    paths = []
    for k, text in enumerate(texts):
        paths.append(str(tmp_path / f"{k}.txt"))
        Path(paths[-1]).write_text(text + "\n")
    X, size, mtime, problems = contest_module._parse_chunk(paths, N_POINTS)
    assert problems == {}
    for row, text in zip(X, texts, strict=True):
        expected = np.array([float(t) for t in text.split(",")], dtype=np.float32)
        np.testing.assert_array_equal(row, expected)
    assert (size > 0).all() and (mtime > 0).all()


def test_contest_n_points_is_checked(contest):
    index, folder, *_ = contest
    with pytest.raises(ValueError, match=f"has {N_POINTS} values, expected {N_POINTS + 1}"):
        read_contest(index, folder, n_points=N_POINTS + 1, cache=False)


def test_spectra_unpacks_into_four_and_pickles(contest):
    index, folder, *_ = contest
    folder.joinpath("bad.txt").write_text("1,2,3\n")
    index.write_text(index.read_text() + "bad,star\n")
    with pytest.warns(SpectraReadWarning):
        spectra = read_contest(index, folder, on_error="skip", cache=False)
    X, y, ids, wavelength = spectra
    assert len(spectra) == 4
    again = pickle.loads(pickle.dumps(spectra))
    assert again.skipped == spectra.skipped == {"bad": spectra.skipped["bad"]}
    np.testing.assert_array_equal(again.X, X)
    assert spectra._replace(wavelength=None).skipped == {}
    assert repr(spectra).startswith(f"Spectra(X: {N_SPECTRA} x {N_POINTS} float32")


# --------------------------------------------------------------------------------------------
# The cache
# --------------------------------------------------------------------------------------------


def test_cache_hit_does_not_parse(contest, spy):
    index, folder, ids, X, _ = contest
    first = read_contest(index, folder)
    assert len(spy) == N_SPECTRA
    assert any(name.endswith(".X.npy") for name in cache_files(index.parent))
    spy.clear()
    second = read_contest(index, folder)
    assert spy == []
    assert isinstance(second.X, np.memmap)  # straight from the cache file
    np.testing.assert_array_equal(second.X, first.X)
    np.testing.assert_array_equal(second.X, X)
    assert second.ids.tolist() == ids


def test_cache_sees_a_changed_file(contest, spy):
    index, folder, ids, X, _ = contest
    read_contest(index, folder)
    new = X[3] + 1.0
    write_spectrum(folder / f"{ids[3]}.txt", new)
    age(folder / f"{ids[3]}.txt", seconds_ago=60)
    spy.clear()
    X_read = read_contest(index, folder).X
    assert spy == [f"{ids[3]}.txt"]  # only what changed is parsed again
    np.testing.assert_array_equal(X_read[3], new)
    np.testing.assert_array_equal(np.delete(X_read, 3, axis=0), np.delete(X, 3, axis=0))


def test_cache_sees_an_added_and_a_removed_file(contest, spy):
    index, folder, ids, X, _ = contest
    read_contest(index, folder)
    # A file listed in the index but missing is reported; when it appears, it is read.
    (folder / f"{ids[0]}.txt").unlink()
    with pytest.raises(FileNotFoundError, match=f"line 2: id '{ids[0]}' has no file"):
        read_contest(index, folder)
    write_spectrum(folder / f"{ids[0]}.txt", X[0] * 2)
    age(folder / f"{ids[0]}.txt")
    spy.clear()
    np.testing.assert_array_equal(read_contest(index, folder).X[0], X[0] * 2)
    assert spy == [f"{ids[0]}.txt"]
    # A new line in the index and its file.
    write_spectrum(folder / "extra.txt", np.arange(N_POINTS))
    age(folder / "extra.txt")
    index.write_text(index.read_text() + "extra,qso\n")
    spy.clear()
    X_read, y, ids_read, _ = read_contest(index, folder)
    assert spy == ["extra.txt"]
    assert ids_read[-1] == "extra" and y[-1] == "qso"
    np.testing.assert_array_equal(X_read[-1], np.arange(N_POINTS))


def test_cache_follows_an_edited_index_without_parsing(contest, spy):
    index, folder, ids, X, y = contest
    read_contest(index, folder)
    lines = index.read_text().splitlines()
    edited = [lines[0]] + [line.replace(",star", ",galaxy") for line in lines[:0:-1]]
    index.write_text("\n".join(edited[:-2]) + "\n")  # reversed, relabelled, two dropped
    spy.clear()
    X_read, y_read, ids_read, _ = read_contest(index, folder)
    assert spy == []
    assert ids_read.tolist() == ids[:1:-1]
    np.testing.assert_array_equal(X_read, X[:1:-1])
    assert y_read.tolist() == [t.replace("star", "galaxy") for t in y[:1:-1]]


def test_cache_does_not_trust_a_file_written_just_before_the_read(tmp_path):
    index, folder, ids, X, _ = make_contest(tmp_path, old=False)
    path = folder / f"{ids[5]}.txt"
    read_contest(index, folder)
    stamp = path.stat().st_mtime_ns
    # Same size, same mtime: what a second write within one timestamp tick looks like.
    text = path.read_text()
    path.write_text(text.replace("1", "2").replace("3", "1").replace("2", "3"))
    os.utime(path, ns=(stamp, stamp))
    assert path.stat().st_size == len(text)
    expected = np.array(path.read_text().split(","), dtype=np.float32)
    np.testing.assert_array_equal(read_contest(index, folder).X[5], expected)


def test_damaged_cache_is_rebuilt(contest):
    index, folder, _, X, _ = contest
    read_contest(index, folder)
    cache = index.parent / ".skspectra_cache"
    (npy,) = cache.glob("*.X.npy")
    npy.write_bytes(npy.read_bytes()[:100])
    np.testing.assert_array_equal(read_contest(index, folder).X, X)
    (manifest,) = cache.glob("*.json")
    manifest.write_text("{not json")
    np.testing.assert_array_equal(read_contest(index, folder).X, X)
    assert len(list(cache.glob("*.X.npy"))) == 1  # older generations are removed


def test_unwritable_cache_warns_and_still_reads(contest, tmp_path):
    index, folder, _, X, _ = contest
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the cache folder should go")
    with pytest.warns(SpectraReadWarning, match="cannot write the spectra cache"):
        spectra = read_contest(index, folder, cache_dir=blocker / "cache")
    np.testing.assert_array_equal(spectra.X, X)


def test_cache_dir_option(contest, tmp_path, spy):
    index, folder, _, X, _ = contest
    where = tmp_path / "elsewhere"
    read_contest(index, folder, cache_dir=where)
    assert any(p.suffix == ".json" for p in where.iterdir())
    assert not (index.parent / ".skspectra_cache").exists()
    spy.clear()
    np.testing.assert_array_equal(read_contest(index, folder, cache_dir=where).X, X)
    assert spy == []


def test_skip_mode_with_cache_reports_the_same_problems(contest, spy):
    index, folder, ids, _, _ = contest
    (folder / f"{ids[2]}.txt").write_text("1,2,x\n")
    age(folder / f"{ids[2]}.txt")
    with pytest.warns(SpectraReadWarning, match="value 3 of 3 is not a number"):
        first = read_contest(index, folder, on_error="skip")
    spy.clear()
    with pytest.warns(SpectraReadWarning, match="value 3 of 3 is not a number"):
        second = read_contest(index, folder, on_error="skip")
    assert spy == []
    assert first.skipped == second.skipped and list(second.skipped) == [ids[2]]
    np.testing.assert_array_equal(first.X, second.X)


# --------------------------------------------------------------------------------------------
# Bad input: errors that name the file and the line, and on_error="skip"
# --------------------------------------------------------------------------------------------


def _break(values: list[str], how: str) -> str:
    if how == "text":
        values[6] = "abc"
    elif how == "short":
        del values[-1]
    elif how == "nan":
        values[3] = "nan"
    elif how == "inf":
        values[3] = "-inf"
    elif how == "huge":
        values[9] = "1e39"
    elif how == "empty value":
        values[1] = " "
    elif how == "empty file":
        return "  \n"
    elif how == "two lines":  # a newline where a comma belongs
        values[24] += "\n" + values.pop(25)
    return ",".join(values)


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("text", f"value 7 of {N_POINTS} is not a number \\(3 characters"),
        ("short", f"has {N_POINTS - 1} values, expected {N_POINTS}"),
        ("nan", f"value 4 of {N_POINTS} is nan: spectra must be finite"),
        ("inf", f"value 4 of {N_POINTS} is -inf: spectra must be finite"),
        ("huge", f"value 10 of {N_POINTS} is 1e39, too large for float32"),
        ("empty value", f"value 2 of {N_POINTS} is empty"),
        ("empty file", "is empty"),
        ("two lines", f"value 25 of {N_POINTS - 1} is not a number"),
    ],
)
def test_bad_file_is_named(contest, how, message):
    index, folder, ids, X, _ = contest
    path = folder / f"{ids[4]}.txt"
    path.write_text(_break(path.read_text().strip().split(","), how))
    with pytest.raises(ValueError, match=f"train/{ids[4]}.txt: {message}"):
        read_contest(index, folder, cache=False)
    with pytest.warns(SpectraReadWarning, match=f"skipped 1 of {N_SPECTRA}"):
        spectra = read_contest(index, folder, cache=False, on_error="skip")
    assert spectra.ids.tolist() == ids[:4] + ids[5:]
    np.testing.assert_array_equal(spectra.X, np.delete(X, 4, axis=0))
    assert list(spectra.skipped) == [ids[4]]


def test_missing_file_names_the_index_line(contest):
    index, folder, ids, _, _ = contest
    (folder / f"{ids[3]}.txt").unlink()
    with pytest.raises(FileNotFoundError, match=rf"index.csv line 5: id '{ids[3]}' has no file "):
        read_contest(index, folder, cache=False)


def test_several_problems_are_counted_and_listed(contest):
    index, folder, ids, _, _ = contest
    for i in ids[:8]:
        (folder / f"{i}.txt").write_text("1,oops")
    (folder / f"{ids[9]}.txt").unlink()
    with pytest.raises(
        ValueError, match=rf"(?s)9 of {N_SPECTRA} spectra .*\.\.\. and 4 more"
    ) as info:
        read_contest(index, folder, cache=False)
    assert "on_error='skip'" in str(info.value)
    assert not isinstance(info.value, FileNotFoundError)
    with pytest.warns(SpectraReadWarning, match="skipped 9 of") as record:
        spectra = read_contest(index, folder, cache=False, on_error="skip")
    assert "and 4 more" in str(record[0].message)
    assert spectra.ids.tolist() == [ids[8]] + ids[10:]
    assert "has no file" in spectra.skipped[ids[9]]


def test_everything_missing_points_at_the_folder(contest):
    index, folder, *_ = contest
    with pytest.raises(ValueError, match="none of the first 20 spectrum files could be read"):
        read_contest(index, folder, suffix=".csv", cache=False)
    with pytest.raises(FileNotFoundError, match="check spectra_dir"):
        read_contest(index, folder, suffix=".csv", cache=False, n_points=N_POINTS)


@pytest.mark.parametrize(
    ("index_text", "kwargs", "message"),
    [
        ("id,type\n0007,star\n0008,quasar\n", {"labels": CONTEST_LABELS},
         "index.csv line 3: id '0008' has the label 'quasar', not one of"),
        ("id,type\n0007,star\n0008,qso\n0007,qso\n", {},
         "index.csv line 4: id '0007' repeats line 2"),
        ("id,type\n0007,star\n0008,\n", {}, "index.csv line 3: id '0008' has no label"),
        ("id,type\n0007,star\n,qso\n", {}, "index.csv line 3: the id is empty"),
        ("id,type\n", {}, "index.csv lists no spectra"),
        ("", {}, "index.csv is empty"),
        ("name,type\n0007,star\n", {}, "no 'id' column"),
    ],
)  # fmt: skip
def test_bad_index_is_named_before_any_file_is_read(contest, spy, index_text, kwargs, message):
    index, folder, *_ = contest
    index.write_text(index_text)
    with pytest.raises(ValueError, match=message):
        read_contest(index, folder, cache=False, **kwargs)
    assert spy == []


def test_unknown_labels_are_accepted_without_labels_and_skipped_with_them(contest):
    index, folder, ids, _, y = contest
    index.write_text(index.read_text().replace(f"{ids[1]},{y[1]}", f"{ids[1]},quasar"))
    assert read_contest(index, folder, cache=False).y[1] == "quasar"
    with pytest.warns(SpectraReadWarning, match="'quasar'"):
        spectra = read_contest(index, folder, cache=False, labels=CONTEST_LABELS, on_error="skip")
    assert ids[1] not in spectra.ids and list(spectra.skipped) == [ids[1]]


def test_duplicates_skip_keeps_the_first(contest):
    index, folder, ids, X, _ = contest
    index.write_text(index.read_text() + f"{ids[0]},qso\n")
    with pytest.warns(SpectraReadWarning, match="repeats line 2"):
        spectra = read_contest(index, folder, cache=False, on_error="skip")
    assert spectra.ids.tolist() == ids
    np.testing.assert_array_equal(spectra.X, X)


def test_all_skipped_is_an_error(contest):
    index, folder, ids, _, _ = contest
    for i in ids[1:]:
        (folder / f"{i}.txt").write_text("x")
    (folder / f"{ids[0]}.txt").write_text("1,2")
    with pytest.raises(ValueError, match=f"all {N_SPECTRA} spectra in .* were skipped"):
        read_contest(index, folder, cache=False, on_error="skip", n_points=N_POINTS)


def test_missing_paths_and_bad_options(contest, tmp_path):
    index, folder, *_ = contest
    with pytest.raises(FileNotFoundError, match="index CSV .*nope.csv.* does not exist"):
        read_contest(tmp_path / "nope.csv", folder)
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        read_contest(index, tmp_path / "nope")
    with pytest.raises(ValueError, match="on_error must be 'raise' or 'skip'"):
        read_contest(index, folder, on_error="ignore")
    with pytest.raises(TypeError, match="labels=\\['star'\\]"):
        read_contest(index, folder, labels="star", cache=False)


def test_parallel_parsing_matches_sequential(contest, monkeypatch):
    index, folder, ids, X, _ = contest
    (folder / f"{ids[-2]}.txt").write_text("1,nan")  # in the last chunk
    monkeypatch.setattr(contest_module, "_MIN_PARALLEL", 1)
    monkeypatch.setattr(parallel_module, "_MIN_CHUNK", 4)
    with pytest.warns(SpectraReadWarning, match=f"train/{ids[-2]}.txt"):
        spectra = read_contest(index, folder, n_jobs=2, cache=False, on_error="skip")
    assert spectra.ids.tolist() == ids[:-2] + ids[-1:]
    np.testing.assert_array_equal(spectra.X, np.delete(X, -2, axis=0))


def test_progress_bar(contest, capsys):
    index, folder, *_ = contest
    read_contest(index, folder, cache=False, progress=True)
    assert "files" in capsys.readouterr().err
    read_contest(index, folder, cache=False, progress=False)
    assert capsys.readouterr().err == ""


# --------------------------------------------------------------------------------------------
# NumPy and CSV files
# --------------------------------------------------------------------------------------------


def test_npy(tmp_path):
    X = np.random.default_rng(0).normal(size=(5, 7))
    np.save(tmp_path / "X.npy", X)
    X_read, y, ids, wavelength = read_npy(tmp_path / "X.npy")
    np.testing.assert_array_equal(X_read, X.astype(np.float32))
    assert y is None and wavelength is None and ids.tolist() == ["0", "1", "2", "3", "4"]

    X[2, 4] = np.nan
    np.save(tmp_path / "X.npy", X)
    with pytest.raises(ValueError, match="X.npy row 2: value 5 of 7 is nan"):
        read_npy(tmp_path / "X.npy")
    with pytest.warns(SpectraReadWarning, match="skipped 1 of 5"):
        spectra = read_npy(tmp_path / "X.npy", on_error="skip")
    assert spectra.ids.tolist() == ["0", "1", "3", "4"] and list(spectra.skipped) == ["2"]

    np.save(tmp_path / "one.npy", X[0])
    with pytest.raises(ValueError, match=r"shape \(7,\): expected 2-D"):
        read_npy(tmp_path / "one.npy")
    np.save(tmp_path / "obj.npy", np.array([[1, "a"]], dtype=object))
    with pytest.raises(ValueError, match="numeric array"):
        read_npy(tmp_path / "obj.npy")


def test_npz_plain_and_splits(tmp_path):
    rng = np.random.default_rng(0)
    X_train, X_test = rng.normal(size=(4, 6)), rng.normal(size=(2, 6))
    grid = np.linspace(4000, 5000, 6)
    path = tmp_path / "data.npz"
    np.savez(
        path,
        X_train=X_train,
        y_train=np.array(["star", "qso", "star", "galaxy"]),
        ids_train=np.array(["a", "b", "c", "d"]),
        X_test=X_test,
        wavenumber=grid,
    )
    X, y, ids, wavelength = read_npz(path, split="train")
    np.testing.assert_array_equal(X, X_train.astype(np.float32))
    assert y.tolist() == ["star", "qso", "star", "galaxy"] and ids.tolist() == list("abcd")
    np.testing.assert_array_equal(wavelength, grid)
    X, y, ids, _ = read_npz(path, split="test")
    assert X.shape == (2, 6) and y is None and ids.tolist() == ["0", "1"]
    with pytest.raises(ValueError, match=r"splits \['test', 'train'\]: pass split='test'"):
        read_npz(path)
    with pytest.raises(ValueError, match="no array 'X_valid'"):
        read_npz(path, split="valid")

    np.savez(path, X=X_train, y=np.array([0, 1, 1, 0]))
    X, y, ids, wavelength = read_npz(path)
    assert y.tolist() == ["0", "1", "1", "0"] and wavelength is None
    with pytest.raises(ValueError, match="row 0: id '0' has the label '0', not one of"):
        read_npz(path, labels=CONTEST_LABELS)


def test_npz_bad_content(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, X=np.ones((3, 4)), y=np.array(["a", "b"]))
    with pytest.raises(ValueError, match=r"y has shape \(2,\) but X has 3 spectra"):
        read_npz(path)
    np.savez(path, X=np.ones((3, 4)), y=np.array(["a", None, "b"], dtype=object))
    with pytest.raises(ValueError, match="'y' holds Python objects"):
        read_npz(path)
    np.savez(path, X=np.ones((3, 4)), wavelength=np.arange(5.0))
    with pytest.raises(ValueError, match=r"grid has shape \(5,\) but the spectra have 4 points"):
        read_npz(path)
    np.savez(path, X=np.ones((3, 4)), ids=np.array(["a", "b", "a"]))
    with pytest.raises(ValueError, match="row 2: id 'a' repeats .*row 0"):
        read_npz(path)


def test_csv_with_wavelength_header(tmp_path):
    path = tmp_path / "spectra.csv"
    path.write_text(
        "id,label,4000.5,4001.5,4002.5\n007,star,1,2,3\ns2,qso,4,5,6e2\ns3,star,7,8,9\n"
    )
    X, y, ids, wavelength = read_csv(path)
    np.testing.assert_array_equal(X, [[1, 2, 3], [4, 5, 600], [7, 8, 9]])
    assert y.tolist() == ["star", "qso", "star"] and ids.tolist() == ["007", "s2", "s3"]
    np.testing.assert_array_equal(wavelength, [4000.5, 4001.5, 4002.5])


def test_csv_without_ids_labels_or_wavelengths(tmp_path):
    path = tmp_path / "spectra.csv"
    path.write_text("f0,f1\n1,2\n3,4\n")
    X, y, ids, wavelength = read_csv(path)
    assert X.shape == (2, 2) and y is None and wavelength is None and ids.tolist() == ["0", "1"]


def test_csv_bad_cells_are_named(tmp_path):
    path = tmp_path / "spectra.csv"
    path.write_text("id,type,1,2,3\na,star,1,2,3\nb,star,1,oops,3\nc,star,1,,3\nd,star,1,inf,3\n")
    with pytest.raises(ValueError, match="4 of 4|3 of 4") as info:
        read_csv(path)
    text = str(info.value)
    assert "spectra.csv line 3: value 2 of 3 (column '2') is 'oops', not a number" in text
    assert "spectra.csv line 4: value 2 of 3 (column '2') is empty or NaN" in text
    assert "spectra.csv line 5: value 2 of 3 (column '2') is inf" in text
    with pytest.warns(SpectraReadWarning, match="skipped 3 of 4"):
        spectra = read_csv(path, on_error="skip")
    assert spectra.ids.tolist() == ["a"]


def test_csv_structure_errors(tmp_path):
    path = tmp_path / "index.csv"
    path.write_text("id,type\n1,star\n")
    with pytest.raises(ValueError, match="no flux columns .* pass spectra_dir="):
        read_csv(path)
    path.write_text("id,4000,4001,snr\n1,2,3,4\n")
    with pytest.raises(ValueError, match=r"columns \['snr'\] are not numbers"):
        read_csv(path)
    path.write_text("id,type,a\n1,,2\n")
    with pytest.raises(ValueError, match="line 2: id '1' has no label"):
        read_csv(path)


def test_read_spectra_dispatches(tmp_path, contest):
    index, folder, ids, X, _ = contest
    assert read_spectra(index, spectra_dir=folder, cache=False).ids.tolist() == ids
    np.save(tmp_path / "a.npy", X)
    np.testing.assert_array_equal(read_spectra(tmp_path / "a.npy").X, X)
    np.savez(tmp_path / "a.npz", X_train=X)
    np.testing.assert_array_equal(read_spectra(str(tmp_path / "a.npz"), split="train").X, X)
    (tmp_path / "a.csv").write_text("x,y\n1,star\n")
    assert read_spectra(tmp_path / "a.csv").y.tolist() == ["star"]
    (tmp_path / "a.dat").write_text("1,2\n")
    with pytest.raises(ValueError, match="cannot tell the format of .*a.dat"):
        read_spectra(tmp_path / "a.dat")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_spectra(tmp_path / "missing.npy")
    with pytest.raises(ValueError, match="no flux columns .* pass spectra_dir="):
        read_spectra(index)


# --------------------------------------------------------------------------------------------
# FITS
# --------------------------------------------------------------------------------------------

LINE = 5000.0  # Angstrom: where the synthetic emission line sits


def lamost_file(path: Path, *, start: float = 3800.0, n: int = 2000, header: dict | None = None):
    fits = pytest.importorskip("astropy.io.fits")
    loglam = np.log10(start) + 1e-4 * np.arange(n)
    wl = 10**loglam
    flux = 1.0 + 50.0 * np.exp(-0.5 * ((wl - LINE) / 1.5) ** 2)
    image = np.vstack([flux, np.ones(n), wl]).astype(np.float32)  # flux, ivar, wavelength
    keys = header or {"COEFF0": np.log10(start), "COEFF1": 1e-4, "CLASS": "STAR"}
    fits.PrimaryHDU(image, fits.Header(keys)).writeto(path)
    return wl


def sdss_file(path: Path, *, start: float = 3600.0, n: int = 3000, line: float = LINE):
    fits = pytest.importorskip("astropy.io.fits")
    loglam = (np.log10(start) + 1e-4 * np.arange(n)).astype(np.float32)
    wl = 10 ** loglam.astype(np.float64)
    flux = (2.0 + 80.0 * np.exp(-0.5 * ((wl - line) / 1.5) ** 2)).astype(np.float32)
    coadd = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="flux", format="E", array=flux),
            fits.Column(name="loglam", format="E", array=loglam),
            fits.Column(name="ivar", format="E", array=np.ones(n, np.float32)),
        ],
        name="COADD",
    )
    specobj = fits.BinTableHDU.from_columns(
        [fits.Column(name="CLASS", format="6A", array=np.array(["QSO"]))], name="SPECOBJ"
    )
    fits.HDUList([fits.PrimaryHDU(), coadd, specobj]).writeto(path)
    return wl


def test_fits_lamost_line_lands_on_the_grid(tmp_path):
    lamost_file(tmp_path / "spec-1.fits")
    grid = np.arange(3700.0, 6500.0, 1.0)
    X, y, ids, wavelength = read_fits(tmp_path / "spec-1.fits", wavelength=grid)
    assert X.shape == (1, len(grid)) and X.dtype == np.float32
    assert grid[np.nanargmax(X[0])] == LINE
    np.testing.assert_array_equal(wavelength, grid)
    assert ids.tolist() == ["spec-1"] and y is None
    # Outside the spectrum (it starts at 3800 and ends near 6023 Angstrom): fill_value.
    assert np.isnan(X[0, grid < 3800]).all() and np.isnan(X[0, grid > 6025]).all()
    assert np.isfinite(X[0, (grid >= 3800) & (grid <= 6020)]).all()
    X0 = read_fits(tmp_path / "spec-1.fits", wavelength=grid, fill_value=0.0).X
    assert (X0[0, grid < 3800] == 0).all()
    np.testing.assert_allclose(X0[0, grid == 4500.0], 1.0, rtol=1e-6)  # continuum kept as is


@pytest.mark.parametrize(
    ("header", "first"),
    [
        ({"CRVAL1": 3800.0, "CDELT1": 2.0, "CRPIX1": 1.0}, 3800.0),
        ({"CRVAL1": 3802.0, "CD1_1": 2.0, "CRPIX1": 2.0}, 3800.0),
        ({"CRVAL1": np.log10(3800.0), "CD1_1": 1e-4, "DC-FLAG": 1}, 3800.0),
    ],
)
def test_fits_lamost_header_variants(tmp_path, header, first):
    fits = pytest.importorskip("astropy.io.fits")
    n = 1500
    flux = np.zeros((3, n), np.float32)
    flux[0, 100] = 10.0  # a one-pixel spike at pixel 100
    fits.PrimaryHDU(flux, fits.Header(header)).writeto(tmp_path / "a.fits")
    X, _, _, wavelength = read_fits(tmp_path / "a.fits")
    assert wavelength[0] == pytest.approx(first)
    if "DC-FLAG" in header:
        assert wavelength[100] == pytest.approx(10 ** (np.log10(3800.0) + 100e-4))
    else:
        assert wavelength[100] == pytest.approx(3800.0 + 200.0)
    assert X[0, 100] == 10.0 and X.shape == (1, n)


def test_fits_sdss_coadd_and_labels(tmp_path):
    sdss_file(tmp_path / "spec-0266-51602-0001.fits")
    grid = np.arange(4000.0, 7000.0, 0.5)
    X, y, ids, _ = read_fits(
        [tmp_path / "spec-0266-51602-0001.fits"], wavelength=grid, label_key="CLASS"
    )
    # Flux-conserving resampling (tests/test_fits.py) may put the peak half a bin off.
    assert abs(grid[np.argmax(X[0])] - LINE) <= 0.5
    assert y.tolist() == ["QSO"] and ids.tolist() == ["spec-0266-51602-0001"]


def test_fits_folder_of_both_layouts(tmp_path):
    lamost_file(tmp_path / "b.fits")
    sdss_file(tmp_path / "a.fits", line=6563.0)
    (tmp_path / "notes.txt").write_text("not a spectrum")
    grid = np.arange(3900.0, 6900.0, 1.0)
    X, y, ids, _ = read_spectra(tmp_path, wavelength=grid, label_key="CLASS")
    assert ids.tolist() == ["a", "b"] and y.tolist() == ["QSO", "STAR"]
    assert grid[np.nanargmax(X[0])] == 6563.0 and grid[np.nanargmax(X[1])] == LINE
    with pytest.raises(ValueError, match="'STAR', not one of"):
        read_fits(tmp_path, wavelength=grid, label_key="CLASS", labels=["QSO"])


def test_fits_grids_must_match_without_wavelength(tmp_path):
    wl = lamost_file(tmp_path / "a.fits")
    lamost_file(tmp_path / "b.fits")
    X, _, _, wavelength = read_fits(tmp_path)
    np.testing.assert_allclose(wavelength, wl)
    assert X.shape == (2, len(wl))
    lamost_file(tmp_path / "c.fits", start=3801.0)
    with pytest.raises(ValueError, match="different wavelength grids .* pass wavelength="):
        read_fits(tmp_path)


def test_fits_bad_files(tmp_path):
    fits = pytest.importorskip("astropy.io.fits")
    lamost_file(tmp_path / "good.fits")
    flux = np.ones((3, 100), np.float32)
    flux[0, 7] = np.nan
    fits.PrimaryHDU(flux, fits.Header({"COEFF0": 3.6, "COEFF1": 1e-4})).writeto(
        tmp_path / "nan.fits"
    )
    fits.PrimaryHDU(np.ones((3, 100), np.float32)).writeto(tmp_path / "nogrid.fits")
    (tmp_path / "junk.fits").write_bytes(b"this is not FITS at all")
    grid = np.arange(3900.0, 6000.0, 1.0)
    # A NaN pixel is a bad pixel, interpolated (tests/test_fits.py): nan.fits is read.
    with pytest.raises(ValueError, match="2 of 4 spectra") as info:
        read_fits(tmp_path, wavelength=grid)
    text = str(info.value)
    assert "nogrid.fits: the primary image has no wavelength keywords" in text
    assert "junk.fits: not a readable FITS file" in text
    with pytest.warns(SpectraReadWarning, match="skipped 2 of 4"):
        spectra = read_fits(tmp_path, wavelength=grid, on_error="skip")
    assert spectra.ids.tolist() == ["good", "nan"] and set(spectra.skipped) == {"junk", "nogrid"}


def test_fits_bad_grid_and_empty_folder(tmp_path):
    pytest.importorskip("astropy")
    with pytest.raises(FileNotFoundError, match="holds no FITS files"):
        read_fits(tmp_path)
    lamost_file(tmp_path / "a.fits")
    with pytest.raises(ValueError, match="strictly increasing"):
        read_fits(tmp_path, wavelength=[5000.0, 4000.0])


def test_fits_without_astropy_says_how_to_install(tmp_path, monkeypatch):
    for name in ("astropy", "astropy.io", "astropy.io.fits"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r'pip install "skspectra\[fits\]"'):
        read_fits(tmp_path / "a.fits")


def test_no_warning_on_clean_reads(contest):
    index, folder, *_ = contest
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_contest(index, folder)
        read_contest(index, folder)


def test_stat_in_threads_matches_one_thread(contest, monkeypatch):
    _, folder, ids, _, _ = contest
    paths = [str(folder / f"{i}.txt") for i in ids] + [str(folder / "missing.txt")]
    one = contest_module._stat_all(paths)
    monkeypatch.setattr(contest_module, "_STAT_CHUNK", 3)
    threaded = contest_module._stat_all(paths)
    np.testing.assert_array_equal(threaded[0], one[0])
    np.testing.assert_array_equal(threaded[1], one[1])
    assert one[0][-1] == -1 and (one[0][:-1] > 0).all()
