"""OpenVINO IR files read without PyTorch or OpenVINO: layers, shapes, FLOPs and stages (docs/openvino.md)."""
