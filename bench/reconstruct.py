"""Rebuild FP32 weights from the shared OpenVINO INT8 export, for the PyTorch and ONNX Runtime
backends: no `.pt` can be downloaded here. Every convolution of the IR is named after the
PyTorch module it came from (`__module.model.2.cv1.conv`), its weights are int8 x a per-channel
scale, and its bias is the constant of the Add that follows. The YOLO11n architecture is built
from ultralytics' own `yolo11n.yaml`, fused (BatchNorm folded, as in the export) and filled.

The result is the INT8 model's weights dequantized, not the official FP32 checkpoint: its
activations are not quantized, so its answers may differ slightly from the OpenVINO model's."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

_NAME = re.compile(r"^__module\.(?P<module>[\w.]+?)/aten::_convolution/(Group)?Convolution$")


def _constant(node) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Value of a weight input: Constant, or Convert(Constant) x Constant (dequantized)."""
    kind = node.get_type_name()
    if kind == "Constant":
        return np.asarray(node.get_data(), dtype=np.float32)
    if kind == "Convert":
        return _constant(node.input_value(0).get_node())
    if kind == "Multiply":
        a, b = (_constant(v.get_node()) for v in node.input_values())
        return a * b
    if kind == "Subtract":
        a, b = (_constant(v.get_node()) for v in node.input_values())
        return a - b
    raise ValueError(f"unexpected weight node {kind}")


def ir_weights(xml: Path) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    import openvino as ov

    model = ov.Core().read_model(str(xml))
    found: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    for op in model.get_ordered_ops():
        if op.get_type_name() not in ("Convolution", "GroupConvolution"):
            continue
        match = _NAME.match(op.get_friendly_name())
        if not match:
            continue
        weight_node = op.input_value(1).get_node()
        if weight_node.get_type_name() == "Constant" and "dfl" in match["module"]:
            continue  # the fixed DFL projection, built by ultralytics itself
        weight = _constant(weight_node)
        if op.get_type_name() == "GroupConvolution":  # [groups, out/g, in/g, kh, kw]
            weight = weight.reshape(-1, *weight.shape[2:])
        bias = None
        for target in op.output(0).get_target_inputs():
            add = target.get_node()
            if add.get_type_name() != "Add":
                continue
            for value in add.input_values():
                if value.get_node().get_type_name() == "Constant":
                    bias = np.asarray(value.get_node().get_data(), dtype=np.float32).reshape(-1)
        found[match["module"]] = (weight, bias)
    return found


def reconstruct_pt(openvino_dir: Path, out: Path) -> Path:
    """Write `out` (.pt) with the shared export's weights in ultralytics' YOLO11n."""
    import torch
    from ultralytics import YOLO

    weights = ir_weights(openvino_dir / "yolo11n.xml")
    yolo = YOLO("yolo11n.yaml", task="detect")
    yolo.model.fuse()
    filled = 0
    with torch.no_grad():
        for name, module in yolo.model.named_modules():
            if not isinstance(module, torch.nn.Conv2d) or name.endswith("dfl.conv"):
                continue
            if name not in weights:
                raise KeyError(f"{name} is not in the OpenVINO model")
            weight, bias = weights[name]
            if tuple(module.weight.shape) != weight.shape:
                raise ValueError(f"{name}: {tuple(module.weight.shape)} vs {weight.shape}")
            module.weight.copy_(torch.from_numpy(weight.copy()))
            if bias is not None:
                if module.bias is None:
                    module.bias = torch.nn.Parameter(torch.zeros(module.out_channels))
                module.bias.copy_(torch.from_numpy(bias.copy()))
            filled += 1
    if filled != len(weights):
        raise ValueError(f"filled {filled} convolutions of {len(weights)}")
    import yaml

    meta = yaml.safe_load((openvino_dir / "metadata.yaml").read_text())
    yolo.model.names = {int(k): v for k, v in meta["names"].items()}
    yolo.model.eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": yolo.model, "train_args": {}, "date": None, "version": None}, out)
    return out
