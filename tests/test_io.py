"""genmlx.save / genmlx.load and pickle: bad files, wrong models, references to models.

Round trips of every result type on every backend are in
conformance/test_io_backends.py; here, on the default backend, every way a
file can be unusable must raise a named GenMLXError subclass.
"""

import json
import os
import pickle

import numpy as np
import pytest

import genmlx as gm
from genmlx import choicemap, dist, gen, select, trace
from genmlx.errors import GenMLXError
from genmlx.combinators import Map
from genmlx.inference import mcmc
from genmlx.io import (
    FORMAT_VERSION, FileFormatError, FormatVersionError, ModelImportError, ModelMismatchError,
    UnsavableError,
)
from tests.models import XS, YS, line

OBS = choicemap({("y", j): y for j, y in enumerate(YS)})


@gen
def wide_line(xs):
    """`line` with a wider prior: same addresses, other scores."""
    slope = trace("slope", dist.gaussian(0.0, 20.0))
    intercept = trace("intercept", dist.gaussian(0.0, 20.0))
    for j, x in enumerate(xs):
        trace(("y", j), dist.gaussian(slope * x + intercept, 1.0))
    return slope


@gen
def slope_only(xs):
    """Other addresses than `line`."""
    slope = trace("slope", dist.gaussian(0.0, 2.0))
    for j, x in enumerate(xs):
        trace(("y", j), dist.gaussian(slope * x, 1.0))


def rewrite_header(path, edit):
    """Rewrite a saved file's JSON header with `edit(header)` (a well-formed archive)."""
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    header = json.loads(arrays["header"].tobytes())
    edit(header)
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


@pytest.fixture
def saved_trace(tmp_path):
    tr, _ = line.generate((XS,), OBS, key=gm.key(0))
    path = tmp_path / "trace.npz"
    gm.save(path, tr)
    return tr, path


def test_file_is_versioned_npz_with_a_json_header(saved_trace):
    tr, path = saved_trace
    with np.load(path, allow_pickle=False) as archive:  # no pickled objects inside
        header = json.loads(archive["header"].tobytes())
    assert header["format"] == "genmlx" and header["version"] == FORMAT_VERSION
    assert header["kind"] == "trace" and header["backend"] == gm.get_backend().name
    assert header["dtype"] == "float32"
    assert header["body"]["gen_fn"] == "tests.models:line"
    assert gm.load(path).choices == tr.choices


def test_truncated_and_corrupted_files(saved_trace, tmp_path):
    _, path = saved_trace
    data = path.read_bytes()
    cut = tmp_path / "cut.npz"
    for size in (0, 10, len(data) // 2, len(data) - 5):
        cut.write_bytes(data[:size])
        with pytest.raises(FileFormatError, match="truncated or corrupted|not a GenMLX"):
            gm.load(cut)
    # one flipped byte inside an array's data: the zip CRC catches it
    with np.load(path) as archive:
        score = archive["a" + str(len(archive.files) - 2)].tobytes()
    at = data.rindex(score)
    flipped = tmp_path / "flipped.npz"
    flipped.write_bytes(data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:])
    with pytest.raises(FileFormatError, match="corrupted"):
        gm.load(flipped)
    text = tmp_path / "text.npz"
    text.write_text("slope,intercept\n1.0,2.0\n")
    with pytest.raises(FileFormatError):
        gm.load(text)
    npy = tmp_path / "array.npy"
    np.save(npy, np.zeros(3))
    with pytest.raises(FileFormatError, match="single NumPy array"):
        gm.load(npy)
    plain = tmp_path / "plain.npz"
    np.savez(plain, x=np.zeros(3))
    with pytest.raises(FileFormatError, match="no header"):
        gm.load(plain)
    with pytest.raises(FileNotFoundError):
        gm.load(tmp_path / "missing.npz")


def test_bad_headers(saved_trace):
    _, path = saved_trace
    rewrite_header(path, lambda h: h.update(version=FORMAT_VERSION + 1))
    with pytest.raises(FormatVersionError, match=f"version {FORMAT_VERSION + 1}.*Upgrade"):
        gm.load(path)
    rewrite_header(path, lambda h: h.update(version=1, format="other"))
    with pytest.raises(FileFormatError, match="not a GenMLX file"):
        gm.load(path)
    rewrite_header(path, lambda h: (h.update(format="genmlx"), h["body"].pop("choices")))
    with pytest.raises(FileFormatError, match="'choices'"):
        gm.load(path)
    rewrite_header(path, lambda h: h.update(kind="mystery"))
    with pytest.raises(FileFormatError, match="mystery"):
        gm.load(path)
    assert issubclass(FormatVersionError, FileFormatError)
    assert all(issubclass(e, GenMLXError) for e in (FileFormatError, ModelImportError,
                                                    ModelMismatchError, UnsavableError))


def test_wrong_or_missing_model(saved_trace):
    tr, path = saved_trace
    with pytest.raises(ModelMismatchError, match="scores the saved choices"):
        gm.load(path, model=wide_line)  # same addresses, another prior
    with pytest.raises(ModelMismatchError, match="intercept"):
        gm.load(path, model=slope_only)  # the file has a choice the model never makes
    assert gm.load(path, model=line).choices == tr.choices
    rewrite_header(path, lambda h: h["body"].update(gen_fn="no_such_package.models:line"))
    with pytest.raises(ModelImportError, match="no_such_package.*model="):
        gm.load(path)
    rewrite_header(path, lambda h: h["body"].update(gen_fn="tests.models:no_such_model"))
    with pytest.raises(ModelImportError, match="no_such_model"):
        gm.load(path)
    rewrite_header(path, lambda h: h["body"].update(gen_fn="tests.models:XS"))
    with pytest.raises(ModelImportError, match="not a generative function"):
        gm.load(path)


def test_a_corrupted_trace_in_a_collection_is_named(tmp_path):
    traces = mcmc.mh(line, (XS,), OBS, select("slope", "intercept"), samples=6, burn=0,
                     key=gm.key(1))
    path = tmp_path / "samples.npz"
    gm.save(path, traces)
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    header = json.loads(arrays["header"].tobytes())
    columns = dict((tuple(p), ref) for p, ref in header["body"]["traces"]["columns"])
    arrays[columns[("slope",)]][3] += 1.0  # trace 3's slope no longer matches its score
    np.savez(path, **arrays)
    with pytest.raises(ModelMismatchError, match="trace 3"):
        gm.load(path)


def test_unsavable_values_and_atomic_save(tmp_path):
    @gen
    def local_model():
        trace("x", dist.gaussian(0.0, 1.0))

    path = tmp_path / "x.npz"
    with pytest.raises(UnsavableError, match="module level"):
        gm.save(path, local_model.simulate((), key=gm.key(0)))
    with pytest.raises(UnsavableError, match="object"):
        gm.save(path, choicemap(x=object()))
    with pytest.raises(UnsavableError, match="dict"):
        gm.save(path, {"slope": 1.0})
    gm.save(path, choicemap(x=1.0))
    with pytest.raises(UnsavableError):
        gm.save(path, choicemap(x=object()))
    assert gm.load(path) == choicemap(x=1.0)  # a failed save leaves the old file intact
    assert os.listdir(tmp_path) == ["x.npz"]  # and no temporary file behind


def test_models_pickle_by_reference():
    data = pickle.dumps(line)
    assert b"tests.models" in data and len(data) < 200
    assert pickle.loads(data) is line
    scaled = line.with_params(scale=gm.get_backend().asarray(3.0))
    copy = pickle.loads(pickle.dumps(scaled))
    assert copy.body is line.body and float(copy.params["scale"]) == 3.0

    @gen
    def local_model():
        trace("x", dist.gaussian(0.0, 1.0))

    with pytest.raises(pickle.PicklingError, match="module level"):
        pickle.dumps(local_model)


def test_pickle_round_trips_keep_values_and_rebuild_traces():
    backend = gm.get_backend()
    tr, _ = line.generate((XS,), OBS, key=gm.key(2))
    copy = pickle.loads(pickle.dumps(tr))
    assert copy.gen_fn is line and copy.args == tr.args and copy.choices == tr.choices
    assert float(copy.score) == float(tr.score) and float(copy.retval) == float(tr.retval)
    assert backend.is_array(copy.score) and copy.internal is not None  # a working trace
    moved, _ = mcmc.mh_step(copy, select("slope"), gm.key(3))
    expected, _ = mcmc.mh_step(tr, select("slope"), gm.key(3))
    assert moved.choices == expected.choices
    cm = choicemap({"a": 1, ("b", "c"): backend.asarray([1.0, 2.0])})
    assert pickle.loads(pickle.dumps(cm)) == cm
    assert pickle.loads(pickle.dumps(gm.EMPTY)).is_empty()
    # backend arrays travel as NumPy: they load on another backend
    with gm.use_backend("numpy") as numpy_backend:
        other = pickle.loads(pickle.dumps(tr))
        assert numpy_backend.is_array(other.score) and numpy_backend.is_array(other["slope"])



def test_unpickling_a_trace_of_a_changed_model_is_refused(monkeypatch):
    import tests.models

    data = pickle.dumps(line.generate((XS,), OBS, key=gm.key(4)).trace)
    monkeypatch.setattr(tests.models, "line", wide_line)  # the model changed since pickling
    with pytest.raises(ModelMismatchError, match="scores the saved choices"):
        pickle.loads(data)


@gen
def element(x):
    return trace("z", dist.gaussian(x, 1.0))


MAPPED = Map(element)


def test_combinator_traces_save_with_a_model_path(tmp_path):
    tr = MAPPED.simulate(([0.5, 1.5, 2.5],), key=gm.key(5))
    with pytest.raises(UnsavableError, match="model='module:qualname'"):
        gm.save(tmp_path / "t.npz", tr)  # an instance has no name of its own
    gm.save(tmp_path / "t.npz", tr, model=f"{__name__}:MAPPED")
    copy = gm.load(tmp_path / "t.npz")
    assert copy.gen_fn is MAPPED and copy.choices == tr.choices
    assert float(copy.score) == float(tr.score)
    with pytest.raises(UnsavableError, match="another object"):
        gm.save(tmp_path / "t.npz", tr, model="tests.models:line")
    assert pickle.loads(pickle.dumps(tr)).choices == tr.choices  # pickle finds `element`
