"""Layer 3, training: ``fit`` and its loop (``train``), the run, the divergence guard, metrics,
batches, checkpoints, the one-process communicator and the callbacks (docs/architecture.md)."""
