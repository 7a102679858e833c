"""robusteye's ONNX files: the metadata an export writes into them, reading one back with every
check a file from a stranger needs, and `OnnxClassifier`, the module that runs it.

An exported model is one self-contained file: weights inside (no external data, which could
name any path on the reader's disk), normalisation inside, input N x C x 32 x 32 in [0, 1],
output logits N x classes. Its `metadata_props` hold one entry, `robusteye`, a JSON document
with the classes, the input spec, the precision and the source checkpoint (path and the hash
of its weights): what `audit` needs to find the float model its gradient attacks run on.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import torch
from torch import Tensor, nn

from robusteye.deploy import _deps
from robusteye.errors import CheckpointError, DataError
from robusteye.models.checkpoint import load_model

METADATA_KEY = "robusteye"
FORMAT = "robusteye.onnx"
FORMAT_VERSION = 1
#: Largest ONNX file read (WRN-28-10 in float32 is 146 MB).
MAX_ONNX_BYTES = 512 << 20
#: Operator domains an exported model may use: the standard ones and onnxruntime's own (its
#: quantiser's); a custom domain would need a library of custom kernels we never load.
DOMAINS = ("", "ai.onnx", "ai.onnx.ml", "com.microsoft")
PRECISIONS = ("float32", "int8")


@dataclass(frozen=True)
class OnnxInfo:
    """What an exported model's metadata says about it."""

    classes: tuple[str, ...]
    precision: str
    input_shape: tuple[int, int, int]  # channels, height, width
    source: dict[str, Any]
    robusteye_version: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "robusteye_version": self.robusteye_version,
            "precision": self.precision,
            "classes": list(self.classes),
            "input": {
                "shape": ["N", *self.input_shape],
                "dtype": "float32",
                "range": [0.0, 1.0],
                "normalisation": "inside the model",
            },
            "source": self.source,
        }


def _fail(path: str | os.PathLike[str], message: str) -> NoReturn:
    raise CheckpointError(f"exported model {path}: {message}")


def parse_info(path: str | os.PathLike[str], text: str | None) -> OnnxInfo:
    """The metadata document of the file at `path` (its `robusteye` entry), checked."""
    if text is None:
        _fail(path, "was not exported by robusteye (no robusteye metadata); "
              "export a checkpoint with `robusteye export`")  # fmt: skip
    try:
        doc = json.loads(text)
    except ValueError:
        _fail(path, "its robusteye metadata is not valid JSON")
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        _fail(path, f"its robusteye metadata has no format {FORMAT!r}")
    version = doc.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        _fail(path, f"unsupported format_version {version!r} (this robusteye reads "
              f"<= {FORMAT_VERSION})")  # fmt: skip
    classes, precision = doc.get("classes"), doc.get("precision")
    shape = (doc.get("input") or {}).get("shape") if isinstance(doc.get("input"), dict) else None
    if not (isinstance(classes, list) and len(classes) >= 2
            and all(isinstance(c, str) and c for c in classes)
            and len(set(classes)) == len(classes)):  # fmt: skip
        _fail(path, "its metadata's classes must be two or more distinct names")
    if precision not in PRECISIONS:
        _fail(path, f"its metadata's precision must be one of {', '.join(PRECISIONS)}")
    if not (isinstance(shape, list) and len(shape) == 4
            and all(isinstance(s, int) and 0 < s <= 4096 for s in shape[1:])):  # fmt: skip
        _fail(path, "its metadata's input shape must be [N, C, H, W]")
    source = doc.get("source")
    return OnnxInfo(
        tuple(classes), precision, (shape[1], shape[2], shape[3]),
        source if isinstance(source, dict) else {}, str(doc.get("robusteye_version", "?")),
    )  # fmt: skip


def read_onnx(path: str | os.PathLike[str]) -> tuple[bytes, OnnxInfo]:
    """The bytes of a robusteye ONNX file and its metadata, after checking that it is one:
    size, ONNX structure (`onnx.checker`), no external data, known operator domains, one
    input of the declared shape and one output per class. Problems are one `CheckpointError`."""
    onnx = _deps.onnx()
    file = Path(path)
    if not file.is_file():
        _fail(path, "does not exist" if not file.exists() else "is not a file")
    size = file.stat().st_size
    if size > MAX_ONNX_BYTES:
        _fail(path, f"is {size:,} bytes (at most {MAX_ONNX_BYTES:,})")
    data = file.read_bytes()
    try:
        proto = onnx.load_model_from_string(data)
    except Exception as err:  # protobuf raises its own DecodeError
        _fail(path, f"is not a readable ONNX model ({type(err).__name__})")
    meta = {p.key: p.value for p in proto.metadata_props}
    info = parse_info(path, meta.get(METADATA_KEY))
    for tensor in proto.graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            _fail(path, f"tensor {tensor.name!r} refers to external data; robusteye models "
                  "hold their weights inside")  # fmt: skip
    domains = _node_domains(proto.graph) | {
        d for f in proto.functions for d in (f.domain, *(n.domain for n in f.node))
    }
    unknown = sorted(domains - set(DOMAINS))
    if unknown:
        _fail(path, f"uses the operator domain {unknown[0]!r} (known: standard ONNX, ONNX-ML and "
              "com.microsoft)")  # fmt: skip
    try:
        onnx.checker.check_model(proto)
    except Exception as err:
        _fail(path, f"is malformed ({' '.join(str(err).split())[:200]})")
    inputs = [
        i for i in proto.graph.input if i.name not in {t.name for t in proto.graph.initializer}
    ]
    if len(inputs) != 1 or len(proto.graph.output) != 1:
        _fail(path, f"has {len(inputs)} inputs and {len(proto.graph.output)} outputs "
              "(robusteye models have one of each)")  # fmt: skip
    dims = [d.dim_value if d.HasField("dim_value") else None
            for d in inputs[0].type.tensor_type.shape.dim]  # fmt: skip
    if len(dims) != 4 or tuple(dims[1:]) != info.input_shape:
        _fail(path, f"its input has shape {dims}, its metadata says [N, "
              f"{', '.join(map(str, info.input_shape))}]")  # fmt: skip
    out_dims = [d.dim_value for d in proto.graph.output[0].type.tensor_type.shape.dim]
    if len(out_dims) != 2 or out_dims[1] != len(info.classes):
        _fail(path, f"its output has shape {out_dims}, not [N, {len(info.classes)}] for its "
              "classes")  # fmt: skip
    return data, info


def _node_domains(graph: Any) -> set[str]:
    """The operator domains of every node of `graph`, its subgraphs included."""
    found: set[str] = set()
    for node in graph.node:
        found.add(node.domain)
        for attr in node.attribute:
            for sub in (*([attr.g] if attr.HasField("g") else []), *attr.graphs):
                found |= _node_domains(sub)
    return found


class OnnxClassifier(nn.Module):
    """An exported model run by onnxruntime on the CPU, as a module taking N x C x H x W
    images in [0, 1] and returning logits, so robusteye's evaluation and black-box attacks
    run on it unchanged. Its output carries no gradient: attacks that need one run on the
    float source model and are replayed here (see `robusteye.evaluate.audit`)."""

    def __init__(self, path: str | os.PathLike[str], *, threads: int | None = None) -> None:
        super().__init__()
        ort = _deps.onnxruntime()
        data, self.info = read_onnx(path)
        self.path = str(path)
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                data, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as err:  # onnxruntime raises its own Fail / InvalidGraph
            _fail(path, f"onnxruntime cannot load it ({' '.join(str(err).split())[:200]})")
        self.input_name = self.session.get_inputs()[0].name

    @property
    def classes(self) -> tuple[str, ...]:
        return self.info.classes

    @property
    def precision(self) -> str:
        return self.info.precision

    def forward(self, x: Tensor) -> Tensor:
        channels, height, width = self.info.input_shape
        if x.ndim != 4 or tuple(x.shape[1:]) != (channels, height, width):
            raise DataError(
                f"the exported model expects images N x {channels} x {height} x {width}, got "
                f"shape {tuple(x.shape)}"
            )
        if x.shape[0] == 0:
            return torch.empty(0, len(self.classes), device=x.device)
        batch = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
        (logits,) = self.session.run(None, {self.input_name: batch})
        return torch.from_numpy(np.asarray(logits, dtype=np.float32)).to(x.device)


def is_exported(path: str | os.PathLike[str]) -> bool:
    """Whether `path` names an exported model (a file) rather than a checkpoint (a folder)."""
    return Path(path).is_file()


def load_classifier(
    path: str | os.PathLike[str], device: str = "cpu", *, channels_last: bool = False
) -> nn.Module:
    """A checkpoint folder as its `EyeModel` (on `device`), or an exported `.onnx` file as an
    `OnnxClassifier` (onnxruntime, CPU): what `predict` and `audit` classify with."""
    if is_exported(path):
        return OnnxClassifier(path)
    return load_model(path, device, channels_last=channels_last)
