"""The ``neuralab`` command (minimal: ``neuralab train`` on bundled digits)."""

from __future__ import annotations

import argparse
import sys

import numpy as np


def _train(args) -> int:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    import neuralab as nl

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=args.seed,
                                          stratify=y)
    model = nl.MLP([64, 128, 10], activation="relu", output="softmax", seed=args.seed)
    nl.fit(model, Xtr, ytr, optimizer=nl.optim.SGD(lr=args.lr), epochs=args.epochs,
           batch_size=args.batch_size, seed=args.seed, validation_data=(Xte, yte), verbose=1)
    acc = float(np.mean(model.predict(Xte) == yte))
    print(f"test accuracy: {acc:.4f}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="neuralab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train an MLP on the bundled digits data set")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    return _train(args)


if __name__ == "__main__":
    sys.exit(main())
