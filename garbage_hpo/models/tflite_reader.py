"""Read the convolutions of a TensorFlow Lite flatbuffer as float arrays, whatever their quantization.

The PyPI `tflite` package is the flatbuffer schema compiled to Python: it gives tensors, buffers and operators,
nothing more. This module walks the operators in graph order and returns each convolution with its kernel and
bias dequantized (`(q - zero_point) * scale`, per tensor or per channel along the tensor's quantized dimension;
float16/float32 files are read as they are), in TFLite's own layouts (convolution OHWI, depthwise 1HWC), with
the options that decide what the float network must do (stride, padding, fused activation), and the input's
size and quantization. Which network the layers make is `tflite_convert`'s question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tflite

CONV_KINDS = {tflite.BuiltinOperator.CONV_2D: "conv", tflite.BuiltinOperator.DEPTHWISE_CONV_2D: "depthwise"}
PADDINGS = {tflite.Padding.SAME: "same", tflite.Padding.VALID: "valid"}
ACTIVATIONS = {tflite.ActivationFunctionType.NONE: "none", tflite.ActivationFunctionType.RELU: "relu",
               tflite.ActivationFunctionType.RELU6: "relu6"}
DTYPES = {tflite.TensorType.FLOAT32: np.float32, tflite.TensorType.FLOAT16: np.float16,
          tflite.TensorType.UINT8: np.uint8, tflite.TensorType.INT8: np.int8, tflite.TensorType.INT32: np.int32}
QUANTIZED = {tflite.TensorType.UINT8: "uint8", tflite.TensorType.INT8: "int8"}
# a TF-slim scope inside a (possibly fused, ';'-joined) tensor name: MobilenetV2/expanded_conv_3/project,
# MobilenetV1/MobilenetV1/Conv2d_5_depthwise, MobilenetV2/Logits/Conv2d_1c_1x1
SCOPE = re.compile(r"(MobilenetV[12])/(?:MobilenetV1/)?((?:expanded_conv(?:_\d+)?/(?:expand|depthwise|project))"
                   r"|Conv_1|Conv|Conv2d_\d+(?:_depthwise|_pointwise)?|Logits/Conv2d_1c_1x1)/")


class TfliteFormatError(ValueError):
    """A file that is not a TFLite flatbuffer this reader can take, with the reason."""


@dataclass(frozen=True)
class TfliteConv:
    """One convolution of the file, dequantized, in TFLite's layout."""

    scope: str  # "MobilenetV2/expanded_conv_3/project" ('' where no TF-slim scope is in the name)
    kind: str  # conv | depthwise
    weight: np.ndarray  # conv (O, H, W, I); depthwise (1, H, W, C)
    bias: np.ndarray  # (O,)
    stride: int
    padding: str  # same | valid
    activation: str  # none | relu | relu6 | other names
    multiplier: int  # depthwise channel multiplier (1 for a conv)
    input_tensor: int  # the file's tensor indices (what an interpreter's get_tensor takes)
    output_tensor: int


@dataclass(frozen=True)
class TfliteGraph:
    convs: tuple[TfliteConv, ...]
    input_shape: tuple[int, ...]  # (1, H, W, 3)
    input_scale: float | None  # None: a float input
    input_zero_point: float | None
    quantization: str  # how the weights are stored: "uint8 per tensor", "int8 per channel", "float32", ...


def tensor_array(model: tflite.Model, tensor: tflite.Tensor) -> np.ndarray:
    """The tensor's stored values as float32, dequantized where it carries a scale."""
    kind = tensor.Type()
    if kind not in DTYPES:
        raise TfliteFormatError(f"tensor {tensor.Name().decode()}: element type {kind} is not read")
    buffer = model.Buffers(tensor.Buffer())
    if buffer is None or buffer.DataLength() == 0:
        raise TfliteFormatError(f"tensor {tensor.Name().decode()}: no data in the file (external buffers are not read)")
    shape = tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
    values = np.frombuffer(buffer.DataAsNumpy().tobytes(), dtype=DTYPES[kind]).reshape(shape)
    quant = tensor.Quantization()
    if kind == tflite.TensorType.FLOAT32 or kind == tflite.TensorType.FLOAT16 or quant is None \
            or quant.ScaleLength() == 0:
        return values.astype(np.float32)
    scale = quant.ScaleAsNumpy().astype(np.float64)
    zero = quant.ZeroPointAsNumpy().astype(np.float64) if quant.ZeroPointLength() else np.zeros_like(scale)
    if scale.size > 1:  # per channel along the quantized dimension
        axis = quant.QuantizedDimension()
        view = [1] * len(shape)
        view[axis] = scale.size
        scale, zero = scale.reshape(view), zero.reshape(view)
    return ((values.astype(np.float64) - zero) * scale).astype(np.float32)


def _scope(*names: str) -> str:
    for name in names:
        match = SCOPE.search(name + "/")
        if match:
            return f"{match.group(1)}/{match.group(2)}"
    return ""


def _options(op: tflite.Operator, kind: str) -> tuple[int, str, str, int]:
    table = op.BuiltinOptions()
    options = tflite.Conv2DOptions() if kind == "conv" else tflite.DepthwiseConv2DOptions()
    options.Init(table.Bytes, table.Pos)
    if options.StrideH() != options.StrideW():
        raise TfliteFormatError(f"strides {options.StrideH()}x{options.StrideW()} are not square")
    act = ACTIVATIONS.get(options.FusedActivationFunction(), f"activation#{options.FusedActivationFunction()}")
    multiplier = options.DepthMultiplier() if kind == "depthwise" else 1
    return options.StrideH(), PADDINGS.get(options.Padding(), "unknown"), act, multiplier


def _stored(graph: tflite.SubGraph, index: int, dequantized: dict[int, int]) -> tflite.Tensor:
    """The tensor holding the constant behind input `index`: float16 files keep a weight as a float16 constant
    turned into float32 by a DEQUANTIZE operator, whose input is the stored tensor."""
    return graph.Tensors(dequantized.get(index, index))


def _conv(model: tflite.Model, graph: tflite.SubGraph, op: tflite.Operator, kind: str,
          dequantized: dict[int, int]) -> TfliteConv:
    weight_t = _stored(graph, op.Inputs(1), dequantized)
    bias_t = _stored(graph, op.Inputs(2), dequantized) if op.InputsLength() > 2 and op.Inputs(2) >= 0 else None
    weight = tensor_array(model, weight_t)
    outputs = weight.shape[-1] if kind == "depthwise" else weight.shape[0]
    bias = tensor_array(model, bias_t) if bias_t is not None else np.zeros(outputs, np.float32)
    names = [weight_t.Name().decode()] + ([bias_t.Name().decode()] if bias_t is not None else [])
    stride, padding, activation, multiplier = _options(op, kind)
    return TfliteConv(_scope(*names), kind, weight, bias, stride, padding, activation, multiplier, op.Inputs(0),
                      op.Outputs(0))


def _opcode(model: tflite.Model, op: tflite.Operator) -> int:
    code = model.OperatorCodes(op.OpcodeIndex())
    return max(code.BuiltinCode(), code.DeprecatedBuiltinCode())  # files before schema 3a keep the old field


def read_tflite(path: Path) -> TfliteGraph:
    """Every convolution of `path`'s first subgraph, in graph order, with its input's description."""
    data = Path(path).read_bytes()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise TfliteFormatError(f"{path}: not a TensorFlow Lite flatbuffer (no TFL3 identifier)")
    model = tflite.Model.GetRootAs(data, 0)
    if model.SubgraphsLength() < 1:
        raise TfliteFormatError(f"{path}: the file holds no subgraph")
    graph = model.Subgraphs(0)
    operators = [graph.Operators(i) for i in range(graph.OperatorsLength())]
    dequantized = {op.Outputs(0): op.Inputs(0) for op in operators
                   if _opcode(model, op) == tflite.BuiltinOperator.DEQUANTIZE}
    convs = []
    for index, op in enumerate(operators):
        kind = CONV_KINDS.get(_opcode(model, op))
        if kind is not None:
            try:
                convs.append(_conv(model, graph, op, kind, dequantized))
            except TfliteFormatError as err:
                raise TfliteFormatError(f"{path}: operator {index}: {err}") from err
    first = graph.Tensors(graph.Inputs(0))
    quant = first.Quantization()
    scaled = quant is not None and quant.ScaleLength() > 0 and first.Type() in QUANTIZED
    return TfliteGraph(tuple(convs), tuple(int(d) for d in first.ShapeAsNumpy()),
                       float(quant.ScaleAsNumpy()[0]) if scaled else None,
                       float(quant.ZeroPointAsNumpy()[0]) if scaled else None,
                       _storage(model, graph, operators, dequantized))


def _storage(model: tflite.Model, graph: tflite.SubGraph, operators: list, dequantized: dict[int, int]) -> str:
    """How the convolutions' weights are stored: "uint8 per tensor", "int8 per channel", "float16", "float32"."""
    weights = [_stored(graph, op.Inputs(1), dequantized) for op in operators if _opcode(model, op) in CONV_KINDS]
    for kind, name in QUANTIZED.items():
        quantized = [t for t in weights if t.Type() == kind]
        if quantized:
            per_channel = any(t.Quantization() is not None and t.Quantization().ScaleLength() > 1 for t in quantized)
            return f"{name} per {'channel' if per_channel else 'tensor'}"
    return "float16" if any(t.Type() == tflite.TensorType.FLOAT16 for t in weights) else "float32"
