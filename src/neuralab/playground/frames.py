r"""Binary frames: what the server streams to the page, as bytes (no JSON lists of floats).

A message is a 16-byte header and a list of sections, all little-endian::

    header   "NLPG"  u16 version  u16 kind  u32 seq  u32 n_sections
    section  u16 id  u16 dtype  u32 count  payload (count elements, padded to 8 bytes)

``kind`` is 1 for a training frame, 2 for the data (points and input images), 3 for the
learning-rate curve, 4 for an export (a file to download: its name, media type and bytes).
``dtype`` is 1 = uint8, 2 = uint16, 3 = float32, 4 = float64; the page reads each payload
as a typed array over the same buffer (``Uint8Array``, ``Float32Array``...).

Images are quantized to one byte per pixel: a value v (a neuron's output; 2p − 1 for a
sigmoid output p) becomes

.. math::

    q = \operatorname{round}\big(127.5\,(\operatorname{clip}(v, -1, 1) + 1)\big) \in [0, 255]

so 0 is −1 (orange on the page), 255 is +1 (blue), 127/128 is 0 (white). A multi-class
output sends the winning class per pixel and its probability rescaled from [1/K, 1] to
[0, 255]. The 100×100 output is one forward pass of the library's layers over the grid's
10,000 points, which also gives every neuron's image (thumbnails take every 5th point).
"""

from __future__ import annotations

import struct

import numpy as np

from .. import Sequential

VERSION = 1
FRAME, DATA, CURVE, EXPORT = 1, 2, 3, 4
GRID = 100          # output heatmap: GRID × GRID points
THUMB = 20          # neuron thumbnails: THUMB × THUMB (every GRID // THUMB-th point)

#: Section ids.
SCALARS, SHAPE, WEIGHTS, GRADS, OUTPUT, CLASSES, NEURONS, FOCUS, RACE, POINTS, INPUTS, \
    LR_CURVE, DOMAIN, FILE_NAME, FILE_TYPE, FILE, CONFUSION = range(1, 18)
#: What the float64 SCALARS section holds, in order (sent in ``hello``).
SCALAR_NAMES = ("step", "epoch", "train_loss", "test_loss", "train_accuracy",
                "test_accuracy", "lr", "dead_relu", "playing", "focus_layer", "focus_i",
                "steps_per_frame_done", "changes", "test_r2", "test_rmse")
#: Columns of the RACE section (one row per run).
RACE_NAMES = ("train_loss", "test_loss", "train_accuracy", "test_accuracy", "ms_per_epoch")

_DTYPES: dict[np.dtype, int] = {np.dtype(np.uint8): 1, np.dtype(np.uint16): 2,
                                 np.dtype(np.float32): 3, np.dtype(np.float64): 4}


def pack(kind: int, seq: int, sections) -> bytes:
    """The message bytes for ``sections``, a list of ``(id, array)``."""
    parts = [b"NLPG", struct.pack("<HHII", VERSION, kind, seq & 0xFFFFFFFF, len(sections))]
    for sid, array in sections:
        array = np.ascontiguousarray(array)
        data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        parts.append(struct.pack("<HHI", sid, _DTYPES[array.dtype], array.size))
        parts.append(data)
        parts.append(b"\0" * (-len(data) % 8))
    return b"".join(parts)


def unpack(message: bytes) -> tuple[int, int, dict]:
    """``(kind, seq, {id: array})``: the inverse of :func:`pack` (for tests and tools)."""
    if message[:4] != b"NLPG":
        raise ValueError("not a playground frame (bad magic)")
    version, kind, seq, n = struct.unpack_from("<HHII", message, 4)
    if version != VERSION:
        raise ValueError(f"frame version {version}, expected {VERSION}")
    codes = {v: k for k, v in _DTYPES.items()}
    offset, out = 16, {}
    for _ in range(n):
        sid, code, count = struct.unpack_from("<HHI", message, offset)
        dtype = codes[code]
        offset += 8
        out[sid] = np.frombuffer(message, dtype=dtype.newbyteorder("<"), count=count,
                                 offset=offset)
        offset += count * dtype.itemsize
        offset += -offset % 8
    return kind, seq, out


def quantize(V, out=None) -> np.ndarray:
    """Values in [−1, 1] (clipped) to bytes 0..255, see the module docstring."""
    V = np.clip(V, -1.0, 1.0)
    V += 1.0
    V *= 127.5
    return np.rint(V, out=V).astype(np.uint8)


def grid_points(lo: float, hi: float, n: int = GRID) -> np.ndarray:
    """The (n², 2) points of the heatmap, row by row from the top (x₂ = ``hi``) down, each row
    from x₁ = ``lo`` to ``hi`` (the order of the image's pixels)."""
    axis = np.linspace(lo, hi, n)
    x1, x2 = np.meshgrid(axis, axis[::-1])
    return np.column_stack([x1.ravel(), x2.ravel()])


def thumbnails(A: np.ndarray) -> np.ndarray:
    """Every row of ``A`` (k, GRID²) as a THUMB × THUMB image: every (GRID//THUMB)-th point."""
    step = GRID // THUMB
    images = A.reshape(-1, GRID, GRID)[:, step // 2::step, step // 2::step]
    return quantize(np.array(images, dtype=np.float32)).reshape(-1)


def layer_outputs(model, A0) -> list[np.ndarray]:
    """The output of every layer of ``model`` for the column batch ``A0`` (the library's own
    forward pass, one layer after the other, nothing cached)."""
    outputs = []
    A = A0
    for layer in model.layers:
        A = layer.forward(A, training=False)
        outputs.append(A)
    return outputs


class Renderer:
    """Heatmaps of one model over a fixed grid, in float32.

    ``G`` is the grid's network inputs (n_features, GRID²). The model's θ is copied into a
    float32 twin (built from its config) before each forward pass, so the drawing costs half
    the float64 pass and never touches the training model's caches.
    """

    def __init__(self, model, G, task: str):
        config = model.get_config()
        config["dtype"] = "float32"
        self.twin = Sequential.from_config(config)
        self.G = np.ascontiguousarray(G, dtype=np.float32)
        #: each input's values over the grid scaled to [−1, 1] (their pictures)
        self.inputs = self.G / np.maximum(np.abs(self.G).max(axis=1, keepdims=True), 1e-12)
        self.task = task

    def images(self, model, focus=None):
        """Sections OUTPUT (and CLASSES), NEURONS, FOCUS for ``model``'s current θ.

        ``focus`` is ``(column, i)``: column 0 is the inputs, 1..H the hidden layers,
        H + 1 the output; that neuron's image comes back at full size.
        """
        np.copyto(self.twin.params, model.params, casting="same_kind")
        outs = layer_outputs(self.twin, self.G)
        columns = [outs[k] for k in range(1, len(outs) - 1, 2)]   # after each hidden act.
        P = outs[-1]
        sections = []
        if self.task == "multiclass":
            k = P.shape[0]
            confidence = (P.max(axis=0) - 1.0 / k) * (2.0 * k / (k - 1.0)) - 1.0
            sections.append((OUTPUT, quantize(confidence)))
            sections.append((CLASSES, P.argmax(axis=0).astype(np.uint8)))
            node_out = 2.0 * P - 1.0                  # each class's probability, as a picture
            columns = [*columns, node_out]            # thumbnails of the output units too
        else:
            node_out = 2.0 * P - 1.0 if self.task == "binary" else P
            sections.append((OUTPUT, quantize(np.array(node_out[0], dtype=np.float32))))
        if columns:
            sections.append((NEURONS, thumbnails(np.concatenate(columns))))
            if self.task == "multiclass":
                columns = columns[:-1]
        if focus is not None:
            column, i = focus
            every = [self.inputs, *columns, node_out]
            if 0 <= column < len(every) and 0 <= i < every[column].shape[0]:
                sections.append((FOCUS, quantize(np.array(every[column][i],
                                                          dtype=np.float32))))
        return sections


def file_message(seq: int, name: str, media: str, content: bytes) -> bytes:
    """An EXPORT message: a file's name and media type (UTF-8) and its bytes."""
    def raw(data):
        return np.frombuffer(data, dtype=np.uint8)

    return pack(EXPORT, seq, [(FILE_NAME, raw(name.encode())), (FILE_TYPE, raw(media.encode())),
                              (FILE, raw(content))])
