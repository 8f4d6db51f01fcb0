"""Layer 1, the network: layers, activations, losses, init, the model and its input steps,
the fast path, the Hessian and the gradient check (docs/architecture.md)."""
