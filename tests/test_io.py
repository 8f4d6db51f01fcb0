"""Model files and checkpoints: round trips on real files, and hostile files rejected early."""

import json
import os
import signal
import struct
import subprocess
import sys
import time

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

import neuralab as nl
from neuralab import io


def _raw_file(path, header: dict, data: bytes = b"", n_header: int | None = None):
    """Write a safetensors-shaped file by hand (so it can be as broken as a test needs)."""
    blob = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob) if n_header is None else n_header) + blob + data)
    return path


def _model_header(model, n_params=None, dtype="F32", offsets=None):
    n = model.n_params if n_params is None else n_params
    size = n * (4 if dtype == "F32" else 8)
    return {"__metadata__": {"format": "neuralab", "format_version": "1",
                             "config": json.dumps(model.get_config()), "dtype": "float32"},
            "params": {"dtype": dtype, "shape": [n], "data_offsets": offsets or [0, size]}}


# ---------------------------------------------------------------------------- models
@pytest.mark.parametrize("make", [
    lambda: nl.MLP([5, 7, 3], activation="tanh", seed=1, dtype="float64"),
    lambda: nl.MLP([5, 6, 4, 1], output="identity", seed=2),
    lambda: nl.LogisticRegression(5, init="xavier_uniform", seed=3),
    lambda: nl.Sequential([nl.Dense(5, 4), nl.LeakyReLU(alpha=0.2), nl.Dense(4, 2),
                           nl.Softmax()], seed=4),
])
def test_save_load_round_trip_gives_identical_outputs(tmp_path, make):
    model = make()
    path = tmp_path / "model.safetensors"
    nl.save(model, path)
    loaded = nl.load(path)
    X = np.random.default_rng(0).standard_normal((9, 5))
    assert type(loaded) is type(model)
    assert loaded.dtype == model.dtype
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded.params, model.params)
    np.testing.assert_array_equal(loaded.forward(X), model.forward(X))


def test_model_file_is_plain_safetensors_readable_by_the_library(tmp_path):
    model = nl.MLP([3, 4, 2], seed=0)
    path = str(tmp_path / "m.safetensors")
    nl.save(model, path)
    np.testing.assert_array_equal(load_file(path)["params"], model.params)
    with safe_open(path, framework="numpy") as f:
        meta = f.metadata()
    assert meta["format"] == "neuralab" and meta["format_version"] == "2"
    assert meta["dtype"] == "float32"
    assert json.loads(meta["config"]) == model.get_config()
    with open(path, "rb") as f:
        assert f.read(2) != b"\x80\x04"                        # not a pickle


def test_save_overwrites_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "m.safetensors"
    nl.save(nl.MLP([3, 4, 2], seed=0), path)
    second = nl.MLP([3, 4, 2], seed=1)
    nl.save(second, path)
    np.testing.assert_array_equal(nl.load(path).params, second.params)
    assert os.listdir(tmp_path) == ["m.safetensors"]


def test_written_files_get_a_normal_mode_and_missing_directories_a_clear_error(tmp_path):
    path = tmp_path / "m.safetensors"
    nl.save(nl.MLP([3, 2], seed=0), path)
    mask = os.umask(0o022)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
    with pytest.raises(FileNotFoundError, match="does not exist"):
        nl.save(nl.MLP([3, 2], seed=0), tmp_path / "no" / "m.safetensors")


def test_save_rejects_non_models(tmp_path):
    with pytest.raises(TypeError, match="model must be a neuralab model"):
        nl.save({"params": np.zeros(3)}, tmp_path / "x.safetensors")


def test_load_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError):
        nl.load(tmp_path / "nope.safetensors")
    with pytest.raises(ValueError, match="directory"):
        nl.load(tmp_path)


@pytest.mark.parametrize("cut", [3, 20, -1, -17])
def test_truncated_model_file(tmp_path, cut):
    path = tmp_path / "m.safetensors"
    nl.save(nl.MLP([6, 5, 3], seed=0), path)
    blob = path.read_bytes()
    path.write_bytes(blob[:cut])
    with pytest.raises(ValueError, match="m.safetensors"):
        nl.load(path)


@pytest.mark.parametrize("n_header", [2**63, 2**40, 10**8 + 1])
def test_absurd_header_length(tmp_path, n_header):
    path = _raw_file(tmp_path / "h.safetensors", {"a": 1}, n_header=n_header)
    with pytest.raises(ValueError, match="header length"):
        nl.load(path)


def test_header_not_json(tmp_path):
    path = tmp_path / "j.safetensors"
    path.write_bytes(struct.pack("<Q", 6) + b"{nope!" + b"\0" * 8)
    with pytest.raises(ValueError, match="not valid JSON"):
        nl.load(path)


def test_huge_declared_shape_is_rejected_before_allocation(tmp_path):
    model = nl.MLP([3, 4, 2], seed=0)
    header = _model_header(model, n_params=10**12, offsets=[0, 4 * 10**12])
    path = _raw_file(tmp_path / "big.safetensors", header, data=b"\0" * 64)
    with pytest.raises(ValueError, match="truncated"):
        nl.load(path)


def test_huge_architecture_is_rejected_before_building_it(tmp_path):
    model = nl.MLP([3, 4, 2], seed=0)
    header = _model_header(model)
    config = model.get_config()
    config["layers"][0].update(n_in=10**9, n_out=10**9)
    header["__metadata__"]["config"] = json.dumps(config)
    path = _raw_file(tmp_path / "arch.safetensors", header, data=b"\0" * 4 * model.n_params)
    with pytest.raises(ValueError, match="parameters"):
        nl.load(path)


def test_another_architectures_params(tmp_path):
    small, big = nl.MLP([3, 4, 2], seed=0), nl.MLP([3, 8, 2], seed=0)
    path = tmp_path / "other.safetensors"
    save_file({"params": big.params}, str(path),
              metadata={"format": "neuralab", "format_version": "1",
                        "config": json.dumps(small.get_config()), "dtype": "float32"})
    with pytest.raises(ValueError, match=r"other\.safetensors.*has shape \[50\].*26 param"):
        nl.load(path)


@pytest.mark.parametrize("dtype", ["F64", "I32", "F16"])
def test_wrong_dtype(tmp_path, dtype):
    model = nl.MLP([3, 4, 2], seed=0)                     # float32
    itemsize = {"F64": 8, "I32": 4, "F16": 2}[dtype]
    header = _model_header(model, dtype=dtype, offsets=[0, itemsize * model.n_params])
    path = _raw_file(tmp_path / "d.safetensors", header, data=b"\0" * itemsize * model.n_params)
    with pytest.raises(ValueError, match=f"dtype {dtype}"):
        nl.load(path)


@pytest.mark.parametrize("change, message", [
    (lambda h: h["params"].update(data_offsets=[0, 7]), "needs 104 bytes"),
    (lambda h: h["params"].update(data_offsets=[4, 108]), "only 104 bytes follow"),
    (lambda h: h["params"].update(shape=[-26]), "invalid shape"),
    (lambda h: h["params"].update(dtype="X99"), "unsupported dtype"),
    (lambda h: h["params"].update(dtype=["F32"]), "unsupported dtype"),
    (lambda h: h["params"].update(shape=[26.0]), "invalid shape"),
    (lambda h: h["params"].update(data_offsets={"a": 1}), "invalid data_offsets"),
    (lambda h: h.update(params=[1, 2]), "exactly dtype"),
    (lambda h: h["params"].pop("data_offsets"), "exactly dtype"),
    (lambda h: h["__metadata__"].update(format="other"), "not a neuralab file"),
    (lambda h: h["__metadata__"].update(format_version="9"), "format_version"),
    (lambda h: h["__metadata__"].update(config="{"), "not valid JSON"),
    (lambda h: h["__metadata__"].update(dtype=3), "strings to strings"),
    (lambda h: h.update(extra={"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}),
     "overlapping"),
    (lambda h: h.update(__metadata__={}), "format"),
    (lambda h: h["__metadata__"].update(config=json.dumps({"dtype": ["float32"], "layers": []})),
     "dtype must be 'float32' or 'float64'"),
    (lambda h: h["__metadata__"].update(config="[" * 100_000 + "]" * 100_000), "RecursionError"),
    (lambda h: h.update(deep=[[[[]]]] * 3), "exactly dtype"),
])
def test_corrupt_headers(tmp_path, change, message):
    model = nl.MLP([3, 4, 2], seed=0)
    header = _model_header(model)
    change(header)
    path = _raw_file(tmp_path / "c.safetensors", header, data=b"\0" * 4 * model.n_params)
    with pytest.raises(ValueError, match=message) as err:
        nl.load(path)
    assert "c.safetensors" in str(err.value)


def test_generic_safetensors_and_checkpoints_are_not_models(tmp_path):
    save_file({"w": np.zeros(3, np.float32)}, str(tmp_path / "g.safetensors"))
    with pytest.raises(ValueError, match="not a neuralab file"):
        nl.load(tmp_path / "g.safetensors")
    io.write_checkpoint(tmp_path / "c.ckpt", {"theta": np.zeros(3)}, {"epoch": 1})
    with pytest.raises(ValueError, match="not a neuralab file"):
        nl.load(tmp_path / "c.ckpt")
    nl.save(nl.MLP([3, 2], seed=0), tmp_path / "m.safetensors")
    with pytest.raises(ValueError, match="not a neuralab-checkpoint file"):
        io.read_checkpoint(tmp_path / "m.safetensors")


def test_random_bytes_never_escape_as_other_errors(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(30):
        path = tmp_path / f"r{i}.safetensors"
        n = int(rng.integers(0, 300))
        blob = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        if i % 2:                                           # a plausible header length
            blob = struct.pack("<Q", max(n - 8, 0) // 2) + blob
        path.write_bytes(blob)
        with pytest.raises(ValueError, match=f"r{i}.safetensors"):
            nl.load(path)


# ---------------------------------------------------------------------------- checkpoints
def _arrays():
    rng = np.random.default_rng(0)
    return {
        "theta": rng.standard_normal(17).astype(np.float32),
        "v": rng.standard_normal((3, 4)),
        "t": np.array(12, dtype=np.int64),                  # 0-d
        "lr": np.array(0.125),                              # 0-d float
        "rng_state": rng.integers(0, 2**63, 4, dtype=np.uint64) * 2,
        "counts": np.arange(5, dtype=np.int32),
        "u32": np.arange(3, dtype=np.uint32),
        "mask": np.array([True, False, True]),
        "flag": np.array(False),
        "empty": np.zeros((0, 3)),
        "big_endian": np.arange(3, dtype=">f8"),
        "strided": np.arange(12.0).reshape(3, 4)[:, ::2],
    }


def test_checkpoint_round_trip_every_dtype_and_shape(tmp_path):
    arrays = _arrays()
    meta = {"epoch": 3, "step": 120, "optimizer": {"name": "Adam", "lr": 1e-3},
            "history": [0.5, 0.25], "done": False, "note": None}
    path = tmp_path / "run.ckpt"
    io.write_checkpoint(path, arrays, meta)
    back, meta_back = io.read_checkpoint(path)
    assert meta_back == meta
    assert set(back) == set(arrays)
    for name, arr in arrays.items():
        assert back[name].shape == arr.shape, name
        assert back[name].dtype == arr.dtype.newbyteorder("="), name
        np.testing.assert_array_equal(back[name], arr)


def test_checkpoint_meta_numpy_scalars_and_big_ints(tmp_path):
    state = np.random.default_rng(5).bit_generator.state       # 128-bit integers inside
    meta = {"t": np.int64(7), "loss": np.float32(0.5), "flag": np.bool_(True),
            "rng": state, "nan": float("nan")}
    io.write_checkpoint(tmp_path / "c.ckpt", {}, meta)
    _, back = io.read_checkpoint(tmp_path / "c.ckpt")
    assert back["t"] == 7 and type(back["t"]) is int and back["loss"] == 0.5
    assert back["flag"] is True and back["rng"] == state and np.isnan(back["nan"])
    rng = np.random.default_rng()
    rng.bit_generator.state = back["rng"]
    assert rng.random() == np.random.default_rng(5).random()
    with pytest.raises(TypeError, match=r"shape \(3,\) is in meta; pass it in arrays"):
        io.write_checkpoint(tmp_path / "d.ckpt", {}, {"theta": np.zeros(3)})
    with pytest.raises(TypeError, match="JSON"):
        io.write_checkpoint(tmp_path / "d.ckpt", {}, {"f": print})
    assert not (tmp_path / "d.ckpt").exists()


def test_checkpoint_validation_errors(tmp_path):
    path = tmp_path / "x.ckpt"
    with pytest.raises(TypeError, match="JSON-serializable"):
        io.write_checkpoint(path, {}, {"f": object()})
    with pytest.raises(TypeError, match="dtype"):
        io.write_checkpoint(path, {"s": np.array(["a"])}, {})
    with pytest.raises(ValueError, match="names"):
        io.write_checkpoint(path, {"__metadata__": np.zeros(1)}, {})
    with pytest.raises(TypeError, match="meta must be a dict"):
        io.write_checkpoint(path, {}, [1])
    assert not path.exists()


def test_crash_at_rename_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "run.ckpt"
    io.write_checkpoint(path, {"theta": np.ones(4)}, {"epoch": 1})
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError("simulated crash during rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        io.write_checkpoint(path, {"theta": np.zeros(4)}, {"epoch": 2})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["run.ckpt"]
    arrays, meta = io.read_checkpoint(path)
    assert meta == {"epoch": 1} and np.all(arrays["theta"] == 1)


def test_crash_while_writing_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    import safetensors.numpy

    path = tmp_path / "run.ckpt"
    io.write_checkpoint(path, {"theta": np.ones(4)}, {"epoch": 1})

    def half_write(arrays, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"\x10\x00\x00")
        raise KeyboardInterrupt

    monkeypatch.setattr(safetensors.numpy, "save_file", half_write)
    with pytest.raises(KeyboardInterrupt):
        io.write_checkpoint(path, {"theta": np.zeros(4)}, {"epoch": 2})
    assert os.listdir(tmp_path) == ["run.ckpt"]
    assert io.read_checkpoint(path)[1] == {"epoch": 1}


_WRITER = """
import sys
import time
import numpy as np
import safetensors.numpy
from neuralab import io

def slow_save_file(arrays, filename, metadata=None):   # a slow disk: the write takes a while
    blob = safetensors.numpy.save(arrays, metadata=metadata)
    with open(filename, "wb") as f:
        for start in range(0, len(blob), 1 << 16):
            f.write(blob[start:start + (1 << 16)])
            f.flush()
            time.sleep(0.0005)

safetensors.numpy.save_file = slow_save_file
for i in range(1, 100_000):
    io.write_checkpoint(sys.argv[1], {"theta": np.full(100_000, float(i)), "step": np.array(i)},
                        {"i": i})
    print(i, flush=True)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_sigkill_mid_write_leaves_a_whole_checkpoint(tmp_path):
    """A process killed at a random moment while writing checkpoints in a loop: the file at
    the path is always a complete checkpoint, at least as new as the last one reported."""
    path = tmp_path / "run.ckpt"
    rng = np.random.default_rng(0)
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)],
                                stdout=subprocess.PIPE, text=True)
        done = 0
        while done < 2:
            done = int(proc.stdout.readline())
        time.sleep(rng.uniform(0.0, 0.03))      # most of the child's time is inside a write
        proc.send_signal(signal.SIGKILL)
        rest = proc.stdout.read().split()
        proc.wait()
        proc.stdout.close()
        assert proc.returncode == -signal.SIGKILL
        last_reported = int(rest[-1]) if rest else done
        arrays, meta = io.read_checkpoint(path)
        assert meta["i"] >= last_reported
        assert arrays["step"] == meta["i"] and np.all(arrays["theta"] == meta["i"])
        assert arrays["theta"].shape == (100_000,)
    io.write_checkpoint(path, {"theta": np.zeros(3)}, {"i": 0})  # cleans the killed writers' temps
    assert os.listdir(tmp_path) == ["run.ckpt"]


@pytest.mark.skipif(os.name != "posix", reason="stale temp files are only cleaned on POSIX")
def test_only_temp_files_of_dead_writers_are_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        names = [f".run.ckpt.{dead.pid}.x1.tmp", f".run.ckpt.{alive.pid}.x2.tmp",
                 f".other.ckpt.{dead.pid}.x3.tmp", ".run.ckpt.notapid.tmp"]
        for name in names:
            (tmp_path / name).write_bytes(b"partial")
        io.write_checkpoint(tmp_path / "run.ckpt", {"theta": np.ones(2)}, {})
        assert sorted(os.listdir(tmp_path)) == sorted(["run.ckpt", *names[1:]])
    finally:
        alive.kill()
        alive.wait()


def test_truncated_checkpoint(tmp_path):
    path = tmp_path / "run.ckpt"
    io.write_checkpoint(path, _arrays(), {"epoch": 1})
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(ValueError, match="run.ckpt"):
        io.read_checkpoint(path)


def test_gapped_tensor_data(tmp_path):
    header = {"__metadata__": {"format": "neuralab-checkpoint", "format_version": "1",
                               "meta": "{}"},
              "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
              "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}
    path = _raw_file(tmp_path / "gap.ckpt", header, data=b"\0" * 12)
    with pytest.raises(ValueError, match="starts at byte 8"):
        io.read_checkpoint(path)
    header["b"]["data_offsets"] = [4, 8]
    _raw_file(path, header, data=b"\0" * 8)
    assert set(io.read_checkpoint(path)[0]) == {"a", "b"}


def test_deeply_nested_header(tmp_path):
    path = tmp_path / "deep.safetensors"
    blob = b"[" * 100_000 + b"]" * 100_000
    path.write_bytes(struct.pack("<Q", len(blob)) + blob)
    with pytest.raises(ValueError, match="deep.safetensors.*not valid JSON"):
        nl.load(path)


def test_write_text_replaces_atomically_and_refuses_a_directory(tmp_path):
    from neuralab import io as nio

    path = tmp_path / "config.json"
    nio.write_text(path, '{"a": 1}')
    nio.write_text(path, '{"a": 2}')
    assert path.read_text() == '{"a": 2}'
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]     # no temporary left
    with pytest.raises(ValueError, match="not a regular file"):
        nio.write_text(tmp_path, "x")


def test_a_model_file_listing_millions_of_layers_is_refused_before_building(tmp_path):
    # issue 22.5: 4.4 million parameter-free layers made `predict` take 16 s and 2 GB
    model = nl.MLP([2, 3, 2], seed=0)
    header = _model_header(model)
    config = model.get_config()
    config["layers"] = config["layers"] + [{"type": "ReLU"}] * 400_000     # ~6 MB of JSON
    header["__metadata__"]["config"] = json.dumps(config)
    path = _raw_file(tmp_path / "many.safetensors", header, data=b"\0" * (model.n_params * 4))
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"many\.safetensors.*400,0\d\d layers, more than"):
        nl.load(path)
    assert time.perf_counter() - t0 < 2.0
    # a metadata entry larger than the bound is refused before its JSON is parsed
    header["__metadata__"]["feature_names"] = json.dumps(["x"] * (io.MAX_METADATA_ENTRY_BYTES
                                                                  // 4))
    header["__metadata__"]["config"] = json.dumps(model.get_config())
    _raw_file(path, header, data=b"\0" * (model.n_params * 4))
    with pytest.raises(ValueError, match=r"many\.safetensors.*'feature_names' holds"):
        nl.load(path)
    # as many preprocessing steps: refused by count, naming the file
    header["__metadata__"].pop("feature_names")
    header["__metadata__"]["preprocessing"] = json.dumps([{"type": "Nope"}] * 5000)
    _raw_file(path, header, data=b"\0" * (model.n_params * 4))
    with pytest.raises(ValueError, match=r"many\.safetensors.*5,000 steps"):
        nl.load(path)


def test_a_5000_digit_integer_in_metadata_names_the_file(tmp_path):
    model = nl.MLP([2, 3, 2], seed=0)
    header = _model_header(model)
    header["__metadata__"]["classes"] = '{"type": "int", "values": [' + "9" * 5000 + "]}"
    path = _raw_file(tmp_path / "digits.safetensors", header,
                     data=b"\0" * (model.n_params * 4))
    with pytest.raises(ValueError, match=r"digits\.safetensors.*'classes'"):
        nl.load(path)
    # in the tensor header itself, too
    blob = b'{"a": {"dtype": "F32", "shape": [' + b"9" * 5000 + b'], "data_offsets": [0, 4]}}'
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + b"\0" * 4)
    with pytest.raises(ValueError, match=r"digits\.safetensors.*not valid JSON"):
        nl.load(path)
