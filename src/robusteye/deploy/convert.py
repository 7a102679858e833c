"""Turning a model into ONNX files: the float export (torch's exporter) and the int8 model
(onnxruntime's static quantisation), each with robusteye's metadata written in.

The float model is exported from `frozen_copy(model)` with a dynamic batch dimension, the
input `images` (N x C x 32 x 32 in [0, 1]) and the output `logits`; the exporter's own
console chatter is kept off the user's terminal. The int8 model is quantised in the QDQ
format, weights per output channel, activations calibrated (min-max) on the images given.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from robusteye.deploy import _deps
from robusteye.deploy.freeze import frozen_copy
from robusteye.deploy.onnxfile import METADATA_KEY, OnnxInfo
from robusteye.errors import RobustEyeError
from robusteye.io import dumps_json
from robusteye.models.base import EyeModel

INPUT_NAME = "images"
OUTPUT_NAME = "logits"
#: Images per calibration batch fed to the quantiser.
CALIBRATION_BATCH = 64


class ExportError(RobustEyeError):
    """The export or its parity check failed (exit code 1)."""


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporter's and quantiser's progress prints, log lines and warnings."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "root", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _with_metadata(proto: object, info: OnnxInfo) -> bytes:
    onnx = _deps.onnx()
    assert isinstance(proto, onnx.ModelProto)
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, dumps_json(info.to_dict())
    proto.producer_name = "robusteye"
    return bytes(proto.SerializeToString())


def export_float(model: EyeModel, path: Path, info: OnnxInfo) -> None:
    """Write `model` (its frozen copy) to `path` as one self-contained float32 ONNX file."""
    _deps.onnxscript()  # torch's exporter needs it; say so in one line if it is missing
    onnx = _deps.onnx()
    frozen = frozen_copy(model)
    channels, height, width = info.input_shape
    example = torch.rand(2, channels, height, width, generator=torch.Generator().manual_seed(0))
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    try:
        with _quiet():
            program = torch.onnx.export(
                frozen, (example,), dynamo=True, dynamic_shapes=({0: batch},),
                input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], external_data=False,
                optimize=True, verbose=False,
            )  # fmt: skip
    except Exception as err:  # the exporter raises many types; one line says which layer
        raise ExportError(f"torch could not export {model.config.name} to ONNX: "
                          f"{' '.join(str(err).split())[:300]}") from err  # fmt: skip
    assert program is not None
    proto = program.model_proto
    onnx.checker.check_model(proto)
    path.write_bytes(_with_metadata(proto, info))


def _reader(images: np.ndarray) -> object:
    """The quantiser's `CalibrationDataReader` over batches of `images`."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.batches = iter(
                [{INPUT_NAME: images[i : i + CALIBRATION_BATCH]}
                 for i in range(0, len(images), CALIBRATION_BATCH)]
            )  # fmt: skip

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    return Reader()


def quantize_int8(float_path: Path, path: Path, images: np.ndarray, info: OnnxInfo) -> None:
    """Write the static int8 (QDQ, per-channel) quantisation of the float model at
    `float_path` to `path`, its activation ranges calibrated on `images` (N x C x H x W)."""
    _deps.onnxruntime()  # one line if it is missing, before the imports below
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    reader = _reader(np.ascontiguousarray(images, dtype=np.float32))
    prepared = path.with_name(f".{path.name}.prepared")
    raw = path.with_name(f".{path.name}.raw")
    try:
        with _quiet():
            # shape inference and graph optimisation (BatchNorm folded into the conv before it)
            quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=False)
            quantize_static(
                str(prepared), str(raw), reader, quant_format=QuantFormat.QDQ,
                per_channel=True, activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8, extra_options={"ActivationSymmetric": False},
            )  # fmt: skip
        onnx = _deps.onnx()
        proto = onnx.load_model(str(raw))
        path.write_bytes(_with_metadata(proto, info))
    except RobustEyeError:
        raise
    except Exception as err:
        raise ExportError(
            f"onnxruntime could not quantise the model to int8: {' '.join(str(err).split())[:300]}"
        ) from err
    finally:
        for leftover in (prepared, raw):
            with contextlib.suppress(OSError):
                os.remove(leftover)
