"""nl.MLP(..., dropout=p, batch_norm=True) and `neuralab train --dropout P --batch-norm`."""

import numpy as np
import pytest

import neuralab as nl
from neuralab.cli import main


def test_mlp_builds_batchnorm_and_dropout_around_each_hidden_activation():
    model = nl.MLP([4, 8, 6, 3], activation="tanh", dropout=0.2, batch_norm=True, seed=0)
    assert [type(layer).__name__ for layer in model.layers] == [
        "Dense", "BatchNorm", "Tanh", "Dropout", "Dense", "BatchNorm", "Tanh", "Dropout",
        "Dense", "Softmax"]
    assert model.layers[3].p == 0.2 and model.layers[1].n_features == 8
    plain = nl.MLP([4, 8, 6, 3], activation="tanh", seed=0)
    assert [type(layer).__name__ for layer in plain.layers] == [
        "Dense", "Tanh", "Dense", "Tanh", "Dense", "Softmax"]
    again = nl.Sequential.from_config(model.get_config())
    assert type(again) is nl.MLP and len(again.layers) == 10


@pytest.mark.parametrize("kwargs, match", [({"dropout": 1.0}, "dropout"),
                                           ({"dropout": "x"}, "dropout"),
                                           ({"batch_norm": "yes"}, "batch_norm")])
def test_mlp_options_are_validated(kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        nl.MLP([4, 8, 3], **kwargs)


def test_cli_train_with_dropout_and_batch_norm(tmp_path, capsys):
    code = main(["train", "--data", "moons", "--hidden", "16", "--epochs", "2",
                 "--dropout", "0.3", "--batch-norm", "--out-dir", str(tmp_path),
                 "--name", "dbn"])
    assert code == 0
    model = nl.load(tmp_path / "dbn" / "model.safetensors")
    assert [type(layer).__name__ for layer in model.layers] == [
        "Dense", "BatchNorm", "ReLU", "Dropout", "Dense", "Softmax"]
    assert model.layers[3].p == 0.3
    assert np.any(model.layers[1].running_mean != 0)      # the buffers were trained and saved


def test_cli_refuses_a_dropout_of_one(tmp_path, capsys):
    assert main(["train", "--data", "moons", "--dropout", "1", "--out-dir", str(tmp_path)]) == 2
    assert "dropout" in capsys.readouterr().err
