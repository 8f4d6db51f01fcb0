"""Layer 3, files: model files and checkpoints (``io``), ONNX, the PyTorch bridges
(``interop``) and reports (docs/architecture.md)."""
