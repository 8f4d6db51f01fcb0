"""Hostile files: model files and checkpoints, mutated by hypothesis, fed to the loaders.

Each mutated file goes to both ``nl.load`` and ``nl.io.read_checkpoint``. For every input:

* only the documented ``ValueError`` escapes (or the load succeeds on a harmless mutation);
* nothing hangs: a 10-second alarm (far above the ~1 ms a load takes) turns a hang into a
  failure instead of a stuck CI job;
* nothing allocates more than the file justifies: the ``tracemalloc`` peak of a load stays
  under 10 × the file size + 2 MiB (NumPy's buffers are traced; safetensors' own Rust buffers
  are not, but it only runs after the header has been checked against the file size);
* no unpickling can happen: ``pickle.load``/``loads``/``Unpickler`` are replaced by a trap
  while the loaders run, and a static scan checks the whole source tree.

The default run tries a few hundred cases, derandomized so CI is reproducible. The long run is
opt-in: ``pytest -m slow tests/test_fuzz.py`` (10,000 cases), or
``NEURALAB_FUZZ_EXAMPLES=50000 pytest -m slow tests/test_fuzz.py`` for another count.
"""

from __future__ import annotations

import ast
import json
import os
import pickle
import signal
import struct
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import neuralab as nl
from neuralab import io as nio

SRC = Path(nl.__file__).parent
DEFAULT_EXAMPLES = 150           # per test; two tests → 300 cases, each loaded twice
LONG_EXAMPLES = int(os.environ.get("NEURALAB_FUZZ_EXAMPLES", "10000"))
HANG_SECONDS = 10


def _opted_in(config) -> bool:
    expr = config.getoption("markexpr") or ""
    return "slow" in expr and "not slow" not in expr


# ---------------------------------------------------------------------------- valid files


def _valid_files() -> dict[str, bytes]:
    """Small valid files of each kind, as bytes."""
    import tempfile

    out = {}
    with tempfile.TemporaryDirectory() as d:
        for name, model in {
            "mlp32": nl.MLP([3, 4, 2], seed=0),
            "mlp64": nl.MLP([2, 3, 3, 1], activation="tanh", output="sigmoid", seed=1,
                            dtype="float64"),
            "leaky": nl.Sequential([nl.Dense(2, 2), nl.LeakyReLU(0.2), nl.Dense(2, 2),
                                    nl.Identity()], seed=2),
        }.items():
            path = os.path.join(d, name)
            nio.save(model, path)
            out[name] = Path(path).read_bytes()
        path = os.path.join(d, "ckpt")
        nio.write_checkpoint(path, {
            "params": np.arange(6, dtype=np.float32), "m": np.ones(6, np.float64),
            "t": np.array(7, dtype=np.int64), "rng": np.arange(4, dtype=np.uint64),
            "mask": np.array([True, False]), "empty": np.zeros((0, 3), np.float32),
        }, {"epoch": 2, "step": 31, "config": {"layers": [1, 2]}, "lr": 0.1})
        out["ckpt"] = Path(path).read_bytes()
    return out


VALID = _valid_files()


def _split(raw: bytes):
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def _join(header, data: bytes, length_delta: int = 0) -> bytes:
    h = json.dumps(header).encode() if not isinstance(header, bytes) else header
    return struct.pack("<Q", max(0, len(h) + length_delta)) + h + data


# ---------------------------------------------------------------------------- strategies

_HUGE_INTS = st.sampled_from([0, 1, -1, 2**31, 2**32 - 1, 2**53, 2**62, 2**63 - 1, 2**64,
                              10**30, -(2**63)])
_INTS = st.one_of(st.integers(-5, 100), _HUGE_INTS)
_JSON = st.recursive(
    st.none() | st.booleans() | _INTS | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)
_SHAPES = st.lists(_INTS, max_size=5)
_DTYPES = st.sampled_from(["F32", "F64", "F16", "BF16", "I64", "U8", "BOOL", "C64", "F8_E4M3",
                           "", "f32", "object"])


@st.composite
def _header_edit(draw, raw: bytes) -> bytes:
    """Replace one field of the JSON header (tensor entry or metadata) with a hostile value."""
    header, data = _split(raw)
    names = [k for k in header if k != "__metadata__"]
    target = draw(st.sampled_from(["tensor", "metadata", "config", "top"]))
    if target == "tensor" and names:
        info = header[draw(st.sampled_from(names))]
        field = draw(st.sampled_from(["dtype", "shape", "data_offsets", "extra", "drop"]))
        if field == "dtype":
            info["dtype"] = draw(_DTYPES | _JSON)
        elif field == "shape":
            info["shape"] = draw(_SHAPES | _JSON)
        elif field == "data_offsets":
            info["data_offsets"] = draw(st.lists(_INTS, max_size=3) | _JSON)
        elif field == "extra":
            info[draw(st.text(max_size=6))] = draw(_JSON)
        else:
            info.pop(draw(st.sampled_from(sorted(info))))
    elif target == "metadata":
        meta = header.setdefault("__metadata__", {})
        key = draw(st.sampled_from(sorted(meta) + ["format", "__x__"]))
        meta[key] = draw(st.text(max_size=30) | _JSON.map(json.dumps) | _JSON)
    elif target == "config" and "config" in header.get("__metadata__", {}):
        config = json.loads(header["__metadata__"]["config"])
        layer = draw(st.sampled_from(config["layers"]))
        key = draw(st.sampled_from(sorted(layer) + ["type", "alpha", "init", "n_in", "junk"]))
        layer[key] = draw(_JSON | _INTS | st.sampled_from(["Dense", "Conv2d", "Softmax"]))
        if draw(st.booleans()):
            config[draw(st.sampled_from(["dtype", "class", "layers"]))] = draw(_JSON)
        header["__metadata__"]["config"] = json.dumps(config)
    else:
        header[draw(st.text(max_size=8))] = draw(_JSON)
    delta = draw(st.sampled_from([0, 0, 0, 1, -1, 7]))
    return _join(header, data, delta)


@st.composite
def _mutated(draw) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(sorted(VALID)))
    raw = VALID[kind]
    how = draw(st.sampled_from(["flip", "truncate", "header_length", "header_edit", "splice",
                                "append", "shape_bomb"]))
    if how == "flip":
        buf = bytearray(raw)
        for pos, bit in draw(st.lists(st.tuples(st.integers(0, len(raw) - 1),
                                                st.integers(1, 255)), min_size=1, max_size=8)):
            buf[pos] ^= bit
        raw = bytes(buf)
    elif how == "truncate":
        raw = raw[:draw(st.integers(0, len(raw) - 1))]
    elif how == "header_length":
        raw = struct.pack("<Q", draw(st.integers(0, 2**64 - 1) | _HUGE_INTS.filter(
            lambda v: 0 <= v < 2**64))) + raw[8:]
    elif how == "header_edit":
        raw = draw(_header_edit(raw))
    elif how == "splice":
        at = draw(st.integers(0, len(raw)))
        cut = draw(st.integers(0, 16))
        raw = raw[:at] + draw(st.binary(max_size=16)) + raw[at + cut:]
    elif how == "append":
        raw = raw + draw(st.binary(min_size=1, max_size=64))
    else:  # a consistent header declaring one enormous tensor over a tiny data section
        header, data = _split(raw)
        name = next(k for k in header if k != "__metadata__")
        dims = draw(st.lists(st.sampled_from([2**16, 2**20, 2**31, 2**32 + 1]), min_size=1,
                             max_size=4))
        n = int(np.prod(dims, dtype=object)) * 4
        header[name] = {"dtype": "F32", "shape": dims, "data_offsets": [0, n]}
        raw = _join(header, data)
    return f"{kind}/{how}", raw


# ---------------------------------------------------------------------------- the check


class _Hang(Exception):
    pass


class _PickleUsed(AssertionError):
    pass


@pytest.fixture(scope="module")
def no_pickle():
    """Replace the unpickling entry points with a trap for the duration of the module."""
    def trap(*args, **kwargs):
        raise _PickleUsed("a loader tried to unpickle data")

    saved = (pickle.load, pickle.loads, pickle.Unpickler)
    pickle.load = pickle.loads = pickle.Unpickler = trap
    try:
        yield
    finally:
        pickle.load, pickle.loads, pickle.Unpickler = saved


def _alarm(signum, frame):
    raise _Hang()


def _check_one(path: Path, label: str, raw: bytes, stats: dict) -> None:
    """Write ``raw`` to ``path`` and load it both ways under the hang and memory guards."""
    path.write_bytes(raw)
    limit = 10 * len(raw) + 2 * 2**20
    for loader in (nio.load, nio.read_checkpoint):
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
        tracemalloc.start()
        try:
            result = loader(path)
        except ValueError:
            stats["rejected"] += 1
        except _Hang:
            pytest.fail(f"{loader.__name__} hung (> {HANG_SECONDS} s) on {label}")
        except Exception as exc:                  # anything else is a finding
            pytest.fail(f"{loader.__name__} raised {type(exc).__name__}: {exc} on {label}")
        else:
            stats["loaded"] += 1
            if loader is nio.load:
                assert isinstance(result, nl.Sequential)
            else:
                arrays, meta = result
                assert isinstance(arrays, dict) and isinstance(meta, dict)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        assert peak <= limit, (f"{loader.__name__} allocated {peak} bytes for a "
                               f"{len(raw)}-byte file ({label})")


def _run(tmp_path, n_examples, derandomize, stats):
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "fuzzed.safetensors"

    @settings(max_examples=n_examples, deadline=None, derandomize=derandomize, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(case=_mutated())
    def check(case):
        _check_one(path, *case, stats)

    check()


# ---------------------------------------------------------------------------- tests


def test_valid_files_load(tmp_path):
    """The fuzzer starts from files that load (so a rejection is the mutation's doing)."""
    stats = {"rejected": 0, "loaded": 0}
    for kind, raw in VALID.items():
        _check_one(tmp_path / kind, kind, raw, stats)
    assert stats == {"rejected": len(VALID), "loaded": len(VALID)}  # each loads one way


@pytest.mark.parametrize("seed_half", [0, 1])
def test_mutated_files_only_raise_value_error(tmp_path, no_pickle, seed_half):
    stats = {"rejected": 0, "loaded": 0}
    _run(tmp_path / str(seed_half), DEFAULT_EXAMPLES, derandomize=seed_half == 0, stats=stats)
    assert stats["rejected"] > 0


@pytest.mark.slow
def test_long_fuzz_run(tmp_path, no_pickle, request):
    if not _opted_in(request.config):
        pytest.skip("opt in with -m slow (NEURALAB_FUZZ_EXAMPLES sets the count)")
    stats = {"rejected": 0, "loaded": 0}
    t0 = time.perf_counter()
    _run(tmp_path, LONG_EXAMPLES, derandomize=False, stats=stats)
    elapsed = time.perf_counter() - t0
    print(f"\nfuzz: {LONG_EXAMPLES} cases, {2 * LONG_EXAMPLES} loads, {stats['rejected']} "
          f"rejected with ValueError, {stats['loaded']} loaded, 0 failures, {elapsed:.1f} s")


# ---------------------------------------------------------------------------- no pickle

_PICKLERS = {"pickle", "_pickle", "cPickle", "cloudpickle", "dill", "joblib", "shelve",
             "marshal", "torch"}
#: Imported for something else (torch's tensors, joblib's Parallel for Dask sweeps): only their
#: loaders (``torch.load``, ``joblib.load``) are flagged.
_CALLS_ONLY = {"torch", "joblib"}


def _pickle_risks(tree) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names
                      if a.name.split(".")[0] in _PICKLERS - _CALLS_ONLY]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in (
                _PICKLERS - _CALLS_ONLY):
            found.append(f"from {node.module} import ...")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = f"{getattr(owner, 'id', '?')}.{node.func.attr}"
            kwargs = {k.arg: k.value for k in node.keywords}
            if node.func.attr == "load" and getattr(owner, "id", None) in {"np", "numpy"}:
                flag = kwargs.get("allow_pickle")
                if not (isinstance(flag, ast.Constant) and flag.value is False):
                    found.append(f"{name}(...) without allow_pickle=False (line {node.lineno})")
            elif name in {"torch.load", "joblib.load", "pd.read_pickle", "pandas.read_pickle"}:
                found.append(f"{name} (line {node.lineno})")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id in {"eval", "exec"}:
            found.append(f"{node.func.id}() (line {node.lineno})")
    return found


def test_no_pickle_or_code_execution_anywhere_in_the_package():
    risks = []
    for path in sorted(SRC.rglob("*.py")):
        risks += [f"{path.relative_to(SRC)}: {r}"
                  for r in _pickle_risks(ast.parse(path.read_text(encoding="utf-8")))]
    assert risks == [], "\n".join(risks)


def test_the_pickle_scan_can_fail():
    tree = ast.parse("import pickle\nimport numpy as np\nnp.load(p)\n"
                     "np.load(p, allow_pickle=True)\nnp.load(p, allow_pickle=False)\neval(s)\n")
    assert len(_pickle_risks(tree)) == 4


# ---------------------------------------------------------------------------- racing a writer

def _two_versions(tmp_path):
    """Two checkpoints of the same layout (equal header lengths), step 10 and step 11."""
    paths = []
    for step in (10, 11):
        p = tmp_path / f"v{step}"
        nio.write_checkpoint(p, {"params": np.full(4, float(step))}, {"step": step})
        paths.append(p)
    assert paths[0].stat().st_size == paths[1].stat().st_size
    return paths


def _replace_midway(monkeypatch, target, new, module, name, after=False):
    """Make ``module.name`` (a step of the reader) replace ``target`` by ``new`` just before
    (or just ``after``) it runs: the writer's atomic rename, landing mid-read."""
    real = getattr(module, name)

    def racing(*args, **kwargs):
        if not after and new.exists():
            os.replace(new, target)
        result = real(*args, **kwargs)
        if after and new.exists():
            os.replace(new, target)
        return result

    monkeypatch.setattr(module, name, racing)


def test_a_reader_racing_a_rename_reads_one_version_not_a_mix(tmp_path, monkeypatch):
    old, new = _two_versions(tmp_path)
    _replace_midway(monkeypatch, old, new, json, "loads")
    arrays, meta = nio.read_checkpoint(old)      # header of v10, then the rename, then tensors
    assert arrays["params"][0] == meta["step"], "θ of one checkpoint with the meta of another"


def test_a_reader_racing_a_rename_does_not_fail(tmp_path, monkeypatch):
    old, _ = _two_versions(tmp_path)
    bigger = tmp_path / "v100"                   # a longer header (more digits) than v10's
    nio.write_checkpoint(bigger, {"params": np.full(4, 100.0)}, {"step": 100, "pad": "x" * 9})
    _replace_midway(monkeypatch, old, bigger, os, "fstat", after=True)   # sized, then renamed
    arrays, meta = nio.read_checkpoint(old)      # a valid file at every instant
    assert arrays["params"][0] == meta["step"]
