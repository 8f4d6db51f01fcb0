"""The lab: every experiment runs in quick mode and its measured numbers hold the claim."""

import argparse

import numpy as np
import pytest

import neuralab.lab as lab
from neuralab.lab import cli

LECTURE_ORDER = ["ml-limits", "vectorization", "sigmoid", "one-to-many-neurons",
                 "layer-collapse", "activations", "backprop", "initialization", "optimizers-2d",
                 "minibatch", "newton-cost", "learning-rate", "schedules", "optimizer-race"]


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return tmp_path_factory.mktemp("lab")


@pytest.fixture(scope="module")
def results(out):
    """Every experiment, quick, once; figures and index.html written to ``out``."""
    return {r.name: r for r in lab.run_all(quick=True, out_dir=out)}


def test_registry_is_in_lecture_order():
    names = list(lab.EXPERIMENTS)
    assert names == [n for n in LECTURE_ORDER if n in names]
    assert names == LECTURE_ORDER
    assert [n for n, _ in lab.list_experiments()] == names


@pytest.mark.parametrize("name", list(lab.EXPERIMENTS))
def test_every_experiment_supports_its_claim_and_draws(results, name):
    r = results[name]
    assert r.name == name and r.title and r.claim and r.conclusion
    assert r.passed, r.conclusion
    assert r.figure is not None and r.figure.stat().st_size > 10_000
    assert r.figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_index_page_gathers_everything_in_order(results, out):
    page = (out / "index.html").read_text(encoding="utf-8")
    positions = [page.index(f'id="{name}"') for name in lab.EXPERIMENTS]
    assert positions == sorted(positions)
    for r in results.values():
        assert f'src="{r.figure.name}"' in page


def test_ml_limits_gap_opens_on_images_and_closes_on_iris(results):
    n = results["ml-limits"].numbers
    assert n["digits"]["raw_mlp"] - n["digits"]["features_logreg"] > 0.10
    assert n["mnist1d"]["raw_mlp"] > n["mnist1d"]["features_logreg"]
    assert abs(n["iris"]["gap"]) < 0.05


def test_vectorization_is_at_least_20x_faster_at_m_1000(results):
    # a large-margin ratio measured inside the run (min of repeats), not a wall-clock limit
    n = results["vectorization"].numbers
    for net in ("slide 2-4-1 sigmoid", "digits 64-32-10 ReLU"):
        assert n[net]["m=1000"]["speedup_forward"] >= 20
        assert n[net]["m=1000"]["speedup_backprop"] >= 20
        assert n[net]["max_abs_difference"] < 1e-12


def test_sigmoid_identity_limits_and_boundary(results):
    n = results["sigmoid"].numbers
    assert n["max |sigma' - sigma(1-sigma)|"] < 1e-12
    assert n["max sigma'"] == pytest.approx(0.25, abs=1e-6)
    assert n["sigma(-1e4)"] == 0.0 and n["sigma(1e4)"] == 1.0
    assert abs(n["logreg_test_accuracy"] - n["sklearn_test_accuracy"]) <= 0.02


def test_one_neuron_fails_xor_a_hidden_layer_solves_it(results):
    n = results["one-to-many-neurons"].numbers
    assert n["one_neuron_test_accuracy"] < 0.8 < 0.95 < n["hidden_layer_test_accuracy"]


def test_linear_deep_network_equals_its_product(results):
    n = results["layer-collapse"].numbers
    assert n["collapse_error_at_init"] < 1e-12 and n["collapse_error_after_training"] < 1e-12
    assert n["test_accuracy_identity"] < 0.7
    assert min(n["test_accuracy_tanh"], n["test_accuracy_relu"]) > 0.95


def test_collapse_helper_against_hand_product():
    model = lab.layer_collapse.MLP([3, 4, 2], activation="identity", output="identity",
                                   seed=1, dtype="float64")
    W_c, b_c = lab.layer_collapse.collapse(model)
    W1, b1, W2, b2 = (model.layers[0].W, model.layers[0].b, model.layers[2].W,
                      model.layers[2].b)
    np.testing.assert_allclose(W_c, W2 @ W1, rtol=1e-14)
    np.testing.assert_allclose(b_c, W2 @ b1 + b2, rtol=1e-14)


def test_activations_vanishing_and_dead_units(results):
    n = results["activations"].numbers
    ratio = n["grad_norm_ratio_layer1_vs_layer6"]
    assert ratio["sigmoid"] < 0.01 < 0.1 < min(ratio["tanh"], ratio["relu"])
    kill = n["killed_first_layer_units"]
    assert kill["relu"]["max_weight_change"] == 0.0
    assert kill["leaky_relu"]["max_weight_change"] > 0.0


def test_backprop_checks(results):
    n = results["backprop"].numbers
    assert n["worst_relative_error"] < 1e-6
    assert n["slide_formulas_vs_library_max_abs"] < 1e-12
    assert n["mean_per_example_vs_batch_max_abs"] < 1e-12


def test_zero_init_leaves_hidden_units_identical(results):
    n = results["initialization"].numbers
    assert n["zeros"]["distinct_hidden_units"] == 1
    assert n["zeros"]["rank_hidden_activations"] == 1
    assert n["small N(0, 0.01)"]["distinct_hidden_units"] == 16
    assert n["large N(0, 1)"]["saturated_at_init"] > 0.5


def test_distinct_units_counts_rows():
    W = np.array([[1.0, 2.0], [1.0, 2.0], [3.0, 4.0]])
    assert lab.initialization.distinct_units(W, np.zeros((3, 1))) == 2


def test_learning_rate_edge_is_two_over_L(results):
    n = results["learning-rate"].numbers
    L = n["L (largest Hessian eigenvalue)"]
    # independent reference: the MSE Hessian of a linear model is 2 X̃ᵀX̃ / m
    X, _ = lab.learning_rate._problem()
    Xb = np.hstack([X, np.ones((len(X), 1))])
    assert L == pytest.approx(np.linalg.eigvalsh(2 * Xb.T @ Xb / len(X))[-1], rel=1e-8)
    keys = [k for k in n if isinstance(n[k], dict)]
    final = {k: next(v for c, v in n[k].items() if c.startswith("loss_after")) for k in keys}
    small, good, large, div = keys
    assert final[good] < final[large] < final[small] < 1.0 < final[div]


def test_run_by_name_and_errors(tmp_path):
    r = lab.run("sigmoid", quick=True)
    assert r.figure is None and r.passed
    with pytest.raises(ValueError, match="unknown experiment 'nope'"):
        lab.run("nope")
    with pytest.raises(TypeError, match="quick"):
        lab.run("sigmoid", quick="yes")
    with pytest.raises(ValueError, match="seed"):
        lab.run("sigmoid", seed=-1)


def _parse(argv):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(argv)


def test_cli_list_and_run(tmp_path, capsys):
    assert cli.run(_parse(["list"])) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in lab.EXPERIMENTS)
    assert cli.run(_parse(["run", "backprop", "--quick", "--out", str(tmp_path)])) == 0
    printed = capsys.readouterr().out
    assert "[backprop]" in printed and "1/1 claims supported" in printed
    assert (tmp_path / "backprop.png").exists() and (tmp_path / "index.html").exists()
    assert cli.run(_parse(["run", "nope"])) == 2
    assert "unknown experiment" in capsys.readouterr().err


def test_newton_needs_far_fewer_steps_than_gd(results):
    n = results["optimizers-2d"].numbers
    for key in [k for k in n if k.startswith("steps to")]:
        steps = {lab: (s if isinstance(s, int) else 10**9) for lab, s in n[key].items()}
        assert steps["Newton"] <= 50
        assert steps["GD"] >= 20 * steps["Newton"]
        assert steps["Momentum"] < steps["GD"]


def test_2d_losses_gradients_and_hessians_are_right():
    from neuralab.lab.optimizers_2d import Bowl, Rosenbrock

    rng = np.random.default_rng(0)
    for problem in (Bowl(), Rosenbrock()):
        p, h = rng.normal(size=2), 1e-6
        e = np.eye(2)
        g_num = [(problem.f(p + h * e[i]) - problem.f(p - h * e[i])) / (2 * h) for i in range(2)]
        np.testing.assert_allclose(problem.grad(p), g_num, rtol=1e-6, atol=1e-6)
        H_num = np.array([(problem.grad(p + h * e[i]) - problem.grad(p - h * e[i])) / (2 * h)
                          for i in range(2)])
        np.testing.assert_allclose(problem.hessian(p), H_num, rtol=1e-5, atol=1e-4)
        assert np.allclose(problem.grad(problem.minimum), 0)


def test_minibatch_gradient_variance_follows_one_over_b(results):
    n = results["minibatch"].numbers
    assert -1.15 < n["fitted slope of log variance vs log B (B <= 128)"] < -0.85
    tr = n["training"]
    final = [next(v for k, v in tr[b].items() if k.startswith("loss after"))
             for b in ("B = 1", "B = 32", "B = 128", "full batch")]
    assert final == sorted(final)


def test_newton_cost_scales_as_d2_memory_and_newton_cg_goes_past(results):
    # memory (tracemalloc) is deterministic; the time slope is reported, not asserted
    n = results["newton-cost"].numbers
    assert n["slope of the solve's peak memory vs d"] > 1.6
    assert n["slope of Newton-CG peak memory vs d"] < 1.3
    race = next(v for k, v in n.items() if k.startswith("Newton-CG vs GD"))
    assert race["Newton-CG loss"] < race["GD (α = 0.1) loss"]
    assert race["dense Hessian would need (GiB)"] > 0.5   # d past Newton's max_params


def test_schedules_match_the_slide_and_beat_a_constant_rate(results):
    n = results["schedules"].numbers
    assert n["max |library − slide formula|"] < 1e-12
    final = next(v for k, v in n.items() if k.startswith("excess loss"))
    for name in ("step decay", "exponential decay", "cosine annealing"):
        assert final[name] < final["constant"] / 10


def test_optimizer_race_from_the_same_start(results):
    race = results["optimizer-race"].numbers["race"]
    assert set(race) == {"SGD", "Momentum", "Nesterov", "AdaGrad", "RMSProp", "Adam", "AdamW"}
    assert all(r["test accuracy"] > 0.9 for r in race.values())
    for name in ("Momentum", "AdaGrad", "RMSProp", "Adam"):
        assert race[name]["final train loss"] < race["SGD"]["final train loss"]
