"""ONNX front and back door: the ``snnc`` dialect, export from PyTorch, file I/O."""
