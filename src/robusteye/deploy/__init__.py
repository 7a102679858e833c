"""Deployment: a checkpoint exported to ONNX (float32 and static int8), its parity with torch
checked by the export itself, and exported models run by onnxruntime wherever robusteye
classifies or audits (`load_classifier`).

The package: `freeze` (plain layers for reparametrised ones), `convert` (the ONNX export and
the int8 quantisation), `onnxfile` (the files' metadata, the checks on reading one,
`OnnxClassifier`), `sets` (which images check parity and which calibrate) and `export`
(`export_model`, the parity report, `source_model`). onnx, onnxruntime and onnxscript come
with the `deploy` extra and are imported only when an exported model is made or read.
"""

from robusteye.deploy.convert import ExportError
from robusteye.deploy.export import (
    EXPORT_FILES,
    FLOAT_TOLERANCE,
    INT8_LOSS_FLAG,
    ExportOptions,
    export_model,
    source_model,
    weights_sha256,
)
from robusteye.deploy.freeze import frozen_copy
from robusteye.deploy.onnxfile import (
    OnnxClassifier,
    OnnxInfo,
    is_exported,
    load_classifier,
    read_onnx,
)
from robusteye.deploy.sets import ExportSets, choose_sets

__all__ = [
    "EXPORT_FILES",
    "FLOAT_TOLERANCE",
    "INT8_LOSS_FLAG",
    "ExportError",
    "ExportOptions",
    "ExportSets",
    "OnnxClassifier",
    "OnnxInfo",
    "choose_sets",
    "export_model",
    "frozen_copy",
    "is_exported",
    "load_classifier",
    "read_onnx",
    "source_model",
    "weights_sha256",
]
