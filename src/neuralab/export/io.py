"""Model files and training checkpoints, in the safetensors format (never pickle).

A safetensors file is an 8-byte little-endian header length ``N``, then ``N`` bytes of JSON
describing each tensor (``dtype``, ``shape``, ``data_offsets``) plus a string-to-string
``__metadata__`` map, then the raw tensor bytes. Loading a file someone hands you must not
trust any of it, so :func:`_read_file` checks the header length, the JSON, every tensor's
dtype, shape and byte range against the file size *before* a single tensor is allocated,
reading the whole file through one open handle.

* :func:`save` / :func:`load`: a model's flat θ (``model.params``) as one tensor ``"params"``;
  the architecture (``model.get_config()``), the input preprocessing, the class labels with
  their type, the target's and the features' names as JSON in the metadata: the whole model.
* :func:`write_checkpoint` / :func:`read_checkpoint`: any named arrays plus JSON metadata,
  written atomically (temporary file, fsync, rename), for ``fit(..., resume_from=...)``.
"""

from __future__ import annotations

import json
import math
import os
import struct
import tempfile

import numpy as np

from .._validation import check_writable_file
from ..nn.model import Sequential, check_model

#: Format tag and version written into every model file's metadata. Version 2 adds the keys
#: ``preprocessing``, ``classes``, ``target`` and ``feature_names``; version 1 files (without
#: them) still load, as models with no preprocessing and no labels.
MODEL_FORMAT, MODEL_FORMAT_VERSION = "neuralab", "2"
#: Model file versions this neuralab reads.
MODEL_FORMAT_VERSIONS = ("1", "2")
#: Format tag and version written into every checkpoint's metadata.
CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_VERSION = "neuralab-checkpoint", "1"

#: Largest JSON header accepted (bytes); real neuralab headers are a few kB.
MAX_HEADER_BYTES = 100 * 1024 * 1024
#: Bounds on a model file's metadata, checked before anything is built from it: the bytes of
#: one metadata entry (architecture, preprocessing, classes, names), the layers of the
#: architecture and the preprocessing steps. Real models are far below them.
MAX_METADATA_ENTRY_BYTES = 16 * 1024 * 1024
MAX_LAYERS = 10_000
MAX_PREPROCESSING_STEPS = 1_000

#: safetensors dtype codes -> NumPy dtypes that neuralab reads and writes.
_DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"), "U32": np.dtype("<u4"), "U16": np.dtype("<u2"), "U8": np.dtype("u1"),
    "BOOL": np.dtype("bool"),
}


# ---------------------------------------------------------------------------- validation
def _read_file(path) -> tuple[dict, dict, dict[str, np.ndarray]]:
    """Read and validate a safetensors file; return ``(tensors, metadata, arrays)``.

    ``tensors`` maps each name to ``{"dtype", "shape", "data_offsets"}``, checked so that every
    tensor's byte range lies in the file, has size ``prod(shape) * itemsize``, and the ranges
    tile the data section exactly; only then is the data section read and each array sliced
    out of it. The file is opened once and sized with ``fstat`` on that handle, so a writer
    renaming a new version over ``path`` mid-read cannot make us check one file and read
    another. Raises ``ValueError`` naming ``path`` on any problem.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path!r}")
    if os.path.isdir(path):
        raise ValueError(f"{path!r} is a directory, not a safetensors file")

    def bad(what):
        return ValueError(f"{path!r} is not a valid neuralab safetensors file: {what}")

    with open(path, "rb") as f:
        file_size = os.fstat(f.fileno()).st_size
        if file_size < 8:
            raise bad(f"it has {file_size} bytes, fewer than the 8-byte header length")
        (n_header,) = struct.unpack("<Q", f.read(8))
        if n_header > MAX_HEADER_BYTES or n_header > file_size - 8:
            raise bad(f"declared header length {n_header} exceeds "
                      f"{'the 100 MB limit' if n_header > MAX_HEADER_BYTES else 'the file size'}"
                      f" ({file_size} bytes; truncated or not safetensors)")
        header, metadata = _parse_header(f.read(n_header), file_size - 8 - n_header, bad)
        data = f.read(file_size - 8 - n_header)
    if len(data) != file_size - 8 - n_header:
        raise bad(f"the file shrank while being read ({len(data)} of "
                  f"{file_size - 8 - n_header} data bytes)")
    arrays = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        flat = np.frombuffer(data, dtype=_DTYPES[info["dtype"]], offset=begin,
                             count=(end - begin) // _DTYPES[info["dtype"]].itemsize)
        arrays[name] = flat.reshape(info["shape"]).copy()    # writable, owns its memory
    return header, metadata, arrays


def _parse_header(raw: bytes, data_size: int, bad) -> tuple[dict, dict]:
    """Validate the JSON header against a data section of ``data_size`` bytes."""
    try:
        header = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:     # ValueError: bad JSON, 5000-digit ints
        raise bad(f"the header is not valid JSON ({type(exc).__name__}: {exc})") from None
    if not isinstance(header, dict):
        raise bad("the header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise bad("__metadata__ must map strings to strings")
    spans = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise bad(f"tensor {name!r} must have exactly dtype, shape and data_offsets")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if not isinstance(dtype, str) or dtype not in _DTYPES:
            raise bad(f"tensor {name!r} has unsupported dtype {dtype!r}; "
                      f"supported: {', '.join(_DTYPES)}")
        if not isinstance(shape, list) or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise bad(f"tensor {name!r} has an invalid shape {shape!r}")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(
                isinstance(o, int) and not isinstance(o, bool) for o in offsets)
                or not 0 <= offsets[0] <= offsets[1]):
            raise bad(f"tensor {name!r} has invalid data_offsets {offsets!r}")
        n_bytes = math.prod(shape) * _DTYPES[dtype].itemsize     # exact Python ints
        if offsets[1] - offsets[0] != n_bytes:
            raise bad(f"tensor {name!r} of shape {shape} and dtype {dtype} needs {n_bytes} bytes "
                      f"but data_offsets {offsets} span {offsets[1] - offsets[0]}")
        if offsets[1] > data_size:
            raise bad(f"tensor {name!r} ends at byte {offsets[1]} of the data section but only "
                      f"{data_size} bytes follow the header (truncated file?)")
        spans.append((offsets[0], offsets[1], name))
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            raise bad(f"tensor {name!r} starts at byte {begin}, expected {position} "
                      "(overlapping or gapped data)")
        position = end
    if position != data_size:
        raise bad(f"the tensors cover {position} bytes but {data_size} bytes follow the header")
    return header, metadata


def _check_format(path, metadata: dict, fmt: str, versions) -> None:
    versions = (versions,) if isinstance(versions, str) else tuple(versions)
    if metadata.get("format") != fmt:
        raise ValueError(f"{os.fspath(path)!r} is not a {fmt} file "
                         f"(metadata format = {metadata.get('format')!r})")
    if metadata.get("format_version") not in versions:
        raise ValueError(f"{os.fspath(path)!r} has format_version "
                         f"{metadata.get('format_version')!r}; this neuralab reads version "
                         f"{' or '.join(versions)} (upgrade neuralab)")


def _json_field(path, metadata: dict, key: str):
    try:
        return json.loads(metadata[key])
    except KeyError:
        raise ValueError(f"{os.fspath(path)!r} has no {key!r} entry in its metadata") from None
    except (ValueError, RecursionError) as exc:     # ValueError: bad JSON, 5000-digit ints
        raise ValueError(f"{os.fspath(path)!r}: metadata {key!r} is not valid JSON "
                         f"({type(exc).__name__}: {exc})") from None


def _config_n_params(path, config) -> int:
    """Parameter count of the architecture in ``config``, computed without building it."""
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError(f"{os.fspath(path)!r}: the model config must be an object with a "
                         "'layers' list")
    if len(config["layers"]) > MAX_LAYERS:
        raise ValueError(f"{os.fspath(path)!r}: the model config lists "
                         f"{len(config['layers']):,} layers, more than the {MAX_LAYERS:,} this "
                         "neuralab builds (a damaged or hostile file)")
    from ..nn.layers import LAYERS

    total = 0
    for i, spec in enumerate(config["layers"]):
        cls = LAYERS.get(str(spec.get("type"))) if isinstance(spec, dict) else None
        if cls is not None:                     # the layer class counts its own parameters
            try:
                total += cls.config_n_params(spec)
            except ValueError as exc:
                raise ValueError(f"{os.fspath(path)!r}: model config layers[{i}] "
                                 f"({spec['type']}) {exc}") from None
    return total


# ---------------------------------------------------------------------------- atomic writes
def _atomic_write(path, arrays: dict, metadata: dict) -> None:
    """Write a safetensors file to ``path`` so a crash leaves the old file or the new one."""
    from safetensors.numpy import save_file

    _replace_atomically(path, lambda tmp: save_file(arrays, tmp, metadata=metadata))


def write_text(path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically, as model files are written: a crash
    leaves the old file or the new one (a run's config.json, for instance)."""
    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    _replace_atomically(path, write)


def _replace_atomically(path, write) -> None:
    """``write(tmp)`` fills a temporary file beside ``path``, which is then flushed to disk
    and renamed over ``path`` (and the directory synced): never a partial file at ``path``."""
    path = check_writable_file(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot write {path!r}: directory {directory!r} does not exist")
    base = os.path.basename(path)
    _remove_stale_temps(directory, base)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{base}.{os.getpid()}.", suffix=".tmp")
    try:
        os.close(fd)
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())       # a normal file's mode, not mkstemp's 0600
        with open(tmp, "rb+") as f:
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def _remove_stale_temps(directory: str, base: str) -> None:
    """Delete temporary files ``.<base>.<pid>.*.tmp`` left by writers that were killed.

    Only files whose writer process no longer exists are removed (POSIX: ``kill(pid, 0)``), so
    a concurrent writer's temporary file is never touched. Elsewhere this is a no-op.
    """
    if os.name != "posix":
        return
    prefix = f".{base}."
    try:
        names = [n for n in os.listdir(directory) if n.startswith(prefix) and n.endswith(".tmp")]
    except OSError:
        return
    for name in names:
        pid = name[len(prefix):].split(".", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:               # the writer is gone: its file is garbage
            try:
                os.unlink(os.path.join(directory, name))
            except OSError:
                pass
        except (PermissionError, OverflowError, OSError):  # alive (another user) or odd pid
            pass


def _umask() -> int:
    """The process umask, read without setting it (``os.umask`` would race other threads)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def _fsync_directory(directory: str) -> None:
    """Persist a rename (POSIX); a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------- models
def save(model, path) -> None:
    """Save a model to a safetensors file: θ plus everything needed to use it, never a pickle.

    Parameters
    ----------
    model : Sequential
        Any neuralab model (``MLP``, ``LogisticRegression``... are ``Sequential``).
    path : str or path-like
        Destination, conventionally ``*.safetensors``; replaced atomically.

    Notes
    -----
    The file holds one tensor ``"params"`` (θ, the flat vector ``model.params``) and the
    metadata (strings; JSON where structured):

    ==================  =============================================================
    key                 value
    ==================  =============================================================
    ``format``          ``"neuralab"``
    ``format_version``  ``"2"`` (files of version 1, without the keys below, still load)
    ``config``          the architecture, ``model.get_config()``
    ``dtype``           ``"float32"`` or ``"float64"``
    ``preprocessing``   the input steps, ``[{"type": "Standardizer", "mean": [...],
                        "scale": [...]}, {"type": "FeatureMap", ...}]``
    ``classes``         ``{"type": "str", "values": ["setosa", ...]}`` or ``null``
    ``target``          the label column's name or ``null``
    ``feature_names``   the raw columns' names or ``null``
    ==================  =============================================================

    Any safetensors reader can open it.

    Examples
    --------
    >>> import neuralab as nl, numpy as np, tempfile, os
    >>> model = nl.MLP([4, 8, 3], seed=0, classes=["a", "b", "c"])
    >>> path = os.path.join(tempfile.mkdtemp(), "m.safetensors")
    >>> nl.save(model, path)
    >>> X = np.ones((2, 4), dtype="float32")
    >>> bool(np.array_equal(nl.load(path).forward(X), model.forward(X)))
    True
    >>> nl.load(path).predict(X).tolist() == model.predict(X).tolist()
    True
    """
    from ..nn import _inputs

    check_model(model)
    metadata = {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION,
                "config": json.dumps(model.get_config()), "dtype": model.dtype.name,
                "preprocessing": json.dumps(_inputs.steps_to_config(model.preprocessing)),
                "classes": json.dumps(_inputs.classes_to_json(model.classes)),
                "target": json.dumps(model.target),
                "feature_names": json.dumps(model.feature_names)}
    buffers = {f"buffer.{k}": np.ascontiguousarray(v) for k, v in model.buffers().items()}
    _atomic_write(path, {"params": np.asarray(model.params, order="C"), **buffers}, metadata)


def load(path):
    """Load a model written by :func:`save`; it gives identical outputs and predictions.

    The preprocessing, classes, target and feature names come back with the model, so the
    loaded model predicts original labels from raw inputs. The file is validated before
    anything large is allocated: the header length, the JSON header, each tensor's dtype,
    shape and byte range, the format tag and version, that θ has exactly as many entries as
    the stored architecture has parameters, and every metadata entry.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        Naming the file and what is wrong, for a broken, truncated, hostile or foreign file.
    """
    tensors, metadata, arrays = _read_file(path)
    _check_format(path, metadata, MODEL_FORMAT, MODEL_FORMAT_VERSIONS)
    for key, value in metadata.items():
        if len(value) > MAX_METADATA_ENTRY_BYTES:
            raise ValueError(f"{os.fspath(path)!r}: metadata {key!r} holds {len(value):,} "
                             f"characters, more than the {MAX_METADATA_ENTRY_BYTES:,} a model "
                             "file's entry may (a damaged or hostile file)")
    config = _json_field(path, metadata, "config")
    if "params" not in tensors:
        raise ValueError(f"{os.fspath(path)!r} has no 'params' tensor "
                         f"(tensors: {sorted(tensors)})")
    info = tensors["params"]
    dtype = config.get("dtype", "float32") if isinstance(config, dict) else None
    expected = {"float32": "F32", "float64": "F64"}.get(dtype) if isinstance(dtype, str) else None
    if expected is None:
        raise ValueError(f"{os.fspath(path)!r}: model config dtype must be 'float32' or "
                         f"'float64', got {dtype!r}")
    if info["dtype"] != expected:
        raise ValueError(f"{os.fspath(path)!r}: 'params' has dtype {info['dtype']} but the "
                         f"model is {dtype} ({expected})")
    n_params = _config_n_params(path, config)
    if info["shape"] != [n_params]:
        raise ValueError(f"{os.fspath(path)!r}: 'params' has shape {info['shape']} but the "
                         f"stored architecture has {n_params} parameters (shape [{n_params}])")
    try:
        model = Sequential.from_config(config)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{os.fspath(path)!r}: cannot rebuild the model: {exc}") from None
    if model.n_params != n_params:
        raise ValueError(f"{os.fspath(path)!r}: the rebuilt model has {model.n_params} "
                         f"parameters, the file {n_params}")
    _restore_inputs(path, metadata, model)
    model.params[...] = arrays["params"]
    model.load_buffers({k.removeprefix("buffer."): v for k, v in arrays.items()},
                       os.fspath(path))
    return model


def _restore_inputs(path, metadata: dict, model) -> None:
    """Set the preprocessing, classes, target and feature names stored in ``metadata``."""
    from ..nn import _inputs

    def optional(key):
        value = _json_field(path, metadata, key) if key in metadata else None
        if key == "preprocessing" and isinstance(value, list) \
                and len(value) > MAX_PREPROCESSING_STEPS:
            raise ValueError(f"{len(value):,} steps, more than the {MAX_PREPROCESSING_STEPS:,} "
                             "this neuralab builds")
        return value

    fields = (("preprocessing", lambda v: _inputs.steps_from_config(v or [])),
              ("classes", _inputs.classes_from_json), ("target", lambda v: v),
              ("feature_names", lambda v: v))
    for key, parse in fields:
        try:
            setattr(model, key, parse(optional(key)))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{os.fspath(path)!r}: metadata {key!r} is not usable: "
                             f"{exc}") from None


# ---------------------------------------------------------------------------- checkpoints
def write_checkpoint(path, arrays: dict, meta: dict) -> None:
    """Write named arrays and JSON metadata to ``path`` atomically.

    The file is written to a temporary file in the same directory, flushed and fsync'ed, then
    renamed over ``path`` (``os.replace``) and the directory fsync'ed: a crash at any moment
    leaves either the previous checkpoint or the new one at ``path``, never a partial file.
    A writer killed mid-write leaves its temporary file ``.<name>.<pid>.*.tmp`` behind;
    the next write to ``path`` deletes it once that process is gone.

    Parameters
    ----------
    path : str or path-like
    arrays : dict of str -> ndarray
        θ, optimizer state, RNG state... Numeric or bool dtypes (float32/64, int32/64,
        uint32/64, bool, ...); 0-d and empty arrays round-trip. Names must not start with
        ``"__"``.
    meta : dict
        JSON-serializable values (epoch, step, config...), stored as one JSON string. NumPy
        scalars (``np.int64(3)``, ``np.float32(0.5)``) are stored as Python numbers; arrays
        belong in ``arrays``.
    """
    if not isinstance(arrays, dict):
        raise TypeError(f"arrays must be a dict of name -> ndarray, got {type(arrays).__name__}")
    if not isinstance(meta, dict):
        raise TypeError(f"meta must be a dict, got {type(meta).__name__}")
    prepared = {}
    for name, value in arrays.items():
        if not isinstance(name, str) or not name or name.startswith("__"):
            raise ValueError(f"array names must be non-empty strings not starting with '__', "
                             f"got {name!r}")
        arr = np.asarray(value)
        dt = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
        if dt not in _DTYPES.values():
            raise TypeError(f"arrays[{name!r}] has dtype {arr.dtype}, which checkpoints do not "
                            "store; use a numeric or bool dtype")
        prepared[name] = np.asarray(arr, dtype=dt, order="C")    # keeps 0-d arrays 0-d
    try:
        meta_json = json.dumps(meta, allow_nan=True, default=_json_scalar)
    except (TypeError, ValueError, RecursionError) as exc:
        raise TypeError(f"meta must be JSON-serializable: {exc}") from None
    metadata = {"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_FORMAT_VERSION,
                "meta": meta_json}
    _atomic_write(path, prepared, metadata)


def _json_scalar(value):
    """``json.dumps`` fallback: NumPy scalars become Python numbers; anything else is refused."""
    if isinstance(value, (np.generic,)) and value.ndim == 0 and value.dtype.kind in "biuf":
        return value.item()
    if isinstance(value, np.ndarray):
        raise TypeError(f"an array of shape {value.shape} is in meta; pass it in arrays")
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def read_checkpoint(path) -> tuple[dict, dict]:
    """Read a checkpoint written by :func:`write_checkpoint`: ``(arrays, meta)``.

    Validated like :func:`load` (header length, JSON, every tensor's dtype, shape and byte
    range against the file size) before any array is read. Arrays come back with the dtype
    and shape (0-d included) they were written with.
    """
    _, metadata, arrays = _read_file(path)
    _check_format(path, metadata, CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_VERSION)
    meta = _json_field(path, metadata, "meta")
    if not isinstance(meta, dict):
        raise ValueError(f"{os.fspath(path)!r}: checkpoint meta must be a JSON object")
    return arrays, meta
