"""The app's own int8 ONNX graph, built at start-up for the CPU it runs on, cached, checked before it serves.

The files published with the model (`onnx/model.onnx`, `onnx/model_quantized.onnx`) stay portable: standard ONNX
operators that transformers.js and any ONNX Runtime read, and int8 weights in 7 bits, so that CPUs without VNNI
answer as the machine that checked them did (onnx_export.py). The app quantizes the fp32 file once more, for this
machine only: dynamic int8 with weights per output channel, in the full 8 bits where the CPU has VNNI (its
instruction adds products in 32 bits: nothing saturates) and in 7 bits elsewhere, by the first of the export's
recipes that passes the app's check.
It is not fused beforehand: ONNX Runtime fuses each GELU with its bias and each layer normalisation at load
(OnnxModel), and its transformer optimizer, run on the file first, gave the same logits to the last digit and
cost bert-base 5.6 s of start-up (its attention fusion does not match this exporter's graph; bench/README.md,
"ONNX Runtime's SkipLayerNormalization left out").
It is cached under the Hugging Face cache (or $BERT_SENTIMENT_CACHE), named by the fp32 file's contents, the ONNX
Runtime version and the recipe, so a restart reuses it. Static (calibrated) int8 was measured slower and less
faithful, and is not used.
"""

import hashlib
import os
import tempfile
from pathlib import Path

from bert_sentiment.hardware import cpu_flags

# x86 flags of an instruction that multiplies u8 by s8 and adds in 32 bits (AVX-512 VNNI, AVX-VNNI, AMX)
VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
CACHE_VARIABLE = "BERT_SENTIMENT_CACHE"


def has_vnni(flags: set[str] | None = None) -> bool:
    return any(flag in (cpu_flags() if flags is None else flags) for flag in VNNI_FLAGS)


def weight_bits(flags: set[str] | None = None) -> tuple[bool, str]:
    """(7-bit weights?, why) for this CPU."""
    if has_vnni(flags):
        return False, "8-bit weights: the CPU has VNNI"
    return True, "7-bit weights: the CPU has no VNNI, where 8-bit products saturate"


def cache_dir() -> Path:
    if os.environ.get(CACHE_VARIABLE):
        return Path(os.environ[CACHE_VARIABLE])
    from huggingface_hub import constants

    return Path(constants.HF_HOME) / "bert-sentiment" / "onnx"


def build(fp32: Path, config, recipe: str, flags: set[str] | None = None) -> tuple[Path, str]:
    """(path, what it is) of this machine's int8 graph from the fp32 file, by `recipe` (one of
    onnx_export.INT8_RECIPES). Built once per fp32 file and recipe, then read from the cache."""
    reduce_range, why = weight_bits(flags)
    import onnxruntime

    digest = hashlib.sha256()
    with open(fp32, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 24), b""):
            digest.update(block)
    key = f"{digest.hexdigest()[:16]}-ort{onnxruntime.__version__}-{recipe}-{'7' if reduce_range else '8'}-unfused"
    path = cache_dir() / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.onnx"
    kind = f"int8 for this CPU, {recipe.removeprefix('per-channel int8, ')}, {why}"
    if path.is_file():
        return path, f"{kind}; cached at {path}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        work_dir = tempfile.TemporaryDirectory(dir=path.parent, prefix=".build-")
    except OSError as err:
        raise OSError(
            f"cannot write this machine's graph to {path.parent} ({err.strerror or err}); set {CACHE_VARIABLE} to a "
            "writable folder"
        ) from None
    with work_dir as work:
        from bert_sentiment.onnx_export import _quantize, _quiet_exporters

        with _quiet_exporters():
            _quantize(fp32, Path(work) / "int8.onnx", recipe, config, reduce_range=reduce_range)
        # whole or not at all: another process starting beside this one reads either
        os.replace(Path(work) / "int8.onnx", path)
    return path, f"{kind}; built now and cached at {path}"
