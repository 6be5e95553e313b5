"""Int8 graphs on a CPU without VNNI, emulated: do they answer as on this machine?

    python -m bench.bench_int8_emulated --model /tmp/minilm-sst2-full    # a train.py run with its onnx/ files

Without VNNI (AVX2-only CPUs, AVX-512 before Cascade Lake) ONNX Runtime multiplies u8 activations by s8 weights with
an instruction that adds products in pairs into 16 bits, which saturates with full-range weights. This runs the
model's int8 graphs on SST-2 dev (length-sorted batches of 32, as the app batches) here and under qemu-user
(`qemu-x86_64 -cpu Haswell-v4`: AVX2 and FMA, no AVX-512, no VNNI; Debian's qemu-user), where ONNX Runtime picks
that other kernel, and prints how far the emulated CPU's logits are from this machine's, and each side's label
agreement with PyTorch. The graphs: the portable file (`onnx/model_quantized.onnx`, 7-bit weights), and this
machine's graph (machine_graph.py) built for a CPU with VNNI (8-bit weights) and for one without (7-bit).
Emulation is tens of times slower than the CPU it runs on: no timing is printed. Needs an x86-64 machine with VNNI
(on one without, both sides run the same kernel).
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench.common import machine_summary, sst2_dev

EMULATED_CPU = "Haswell-v4"  # AVX2 and FMA, no AVX-512 and no VNNI, as on AMD CPUs before Zen 4
EMULATED_RUN = """
import sys
import numpy as np
from bert_sentiment.onnx_export import OnnxModel

batches = np.load(sys.argv[1])
count = len(batches.files) // 2
logits = {}
for name, path in zip(sys.argv[3::2], sys.argv[4::2]):
    graph = OnnxModel(path)
    logits[name] = np.concatenate([graph.logits({"input_ids": batches[f"ids{i}"], "attention_mask": batches[f"mask{i}"]})
                                   for i in range(count)])
    print(name, "done", flush=True)
np.savez(sys.argv[2], **logits)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a train.py run (output_dir) with onnx/model.onnx")
    parser.add_argument("--texts", type=int, default=872, help="SST-2 dev sentences to run (all 872 by default)")
    options = parser.parse_args()
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from bert_sentiment.machine_graph import has_vnni
    from bert_sentiment.onnx_export import OnnxModel

    print(f"Machine: {machine_summary()}")
    if not has_vnni():
        sys.exit("This machine has no VNNI: it runs the same int8 kernel as the emulated CPU; nothing to compare.")
    if not shutil.which("qemu-x86_64"):
        sys.exit("qemu-x86_64 is missing: apt-get install qemu-user (Debian's qemu-user emulates the CPU).")
    model, texts = Path(options.model), sst2_dev()[0][: options.texts]
    graphs, tokenizer = int8_graphs(model), AutoTokenizer.from_pretrained(model)
    order = np.argsort([-len(text) for text in texts], kind="stable")  # length-sorted batches, as the app runs them
    batches = [
        tokenizer([texts[i] for i in order[start : start + 32]], truncation=True, padding=True, return_tensors="np")
        for start in range(0, len(texts), 32)
    ]
    with torch.inference_mode():
        torch_model = AutoModelForSequenceClassification.from_pretrained(model).eval()
        reference = np.concatenate([torch_model(**batch.convert_to_tensors("pt")).logits.numpy() for batch in batches])
    here = {
        name: np.concatenate([OnnxModel(path).logits(dict(batch)) for batch in batches])
        for name, path in graphs.items()
    }
    print(f"Running {len(graphs)} graphs on {len(texts)} texts under qemu-x86_64 -cpu {EMULATED_CPU} ...")
    report(f"{len(texts)} SST-2 dev sentences, {model.name}", reference, here, emulated_logits(graphs, batches))


def int8_graphs(model: Path) -> dict[str, Path]:
    """The portable int8 file, and this machine's graph as built for a CPU with VNNI and for one without."""
    from transformers import AutoConfig

    from bert_sentiment.machine_graph import build
    from bert_sentiment.onnx_export import FP32_FILE, INT8_FILE, INT8_RECIPES, ONNX_DIR

    config, fp32, every_layer = (
        AutoConfig.from_pretrained(model),
        model / ONNX_DIR / FP32_FILE,
        next(iter(INT8_RECIPES)),
    )
    return {
        "portable file (7-bit)": model / ONNX_DIR / INT8_FILE,
        "this machine's graph for a CPU with VNNI (8-bit)": build(fp32, config, every_layer, {"avx512_vnni"})[0],
        "this machine's graph for a CPU without VNNI (7-bit)": build(fp32, config, every_layer, set())[0],
    }


def emulated_logits(graphs: dict[str, Path], batches: list) -> dict[str, np.ndarray]:
    """Each graph's logits on `batches`, computed by this Python and ONNX Runtime under the emulated CPU."""
    with tempfile.TemporaryDirectory() as scratch:
        inputs, outputs = Path(scratch) / "inputs.npz", Path(scratch) / "outputs.npz"
        arrays = {f"ids{i}": batch["input_ids"] for i, batch in enumerate(batches)}
        np.savez(inputs, **arrays, **{f"mask{i}": batch["attention_mask"] for i, batch in enumerate(batches)})
        pairs = [str(item) for name, path in graphs.items() for item in (name, path)]
        command = ["qemu-x86_64", "-cpu", EMULATED_CPU, sys.executable, "-c", EMULATED_RUN, str(inputs), str(outputs)]
        subprocess.run([*command, *pairs], check=True)
        return dict(np.load(outputs))


def report(title: str, reference: np.ndarray, here: dict, there: dict) -> None:
    labels = reference.argmax(axis=1)
    print(f"\n{title}; PyTorch's labels, and emulated against here:")
    print(
        f"  {'graph':<52} {'as PyTorch, here':>16} {'emulated':>9} {'labels alike':>12} "
        f"{'largest logit gap':>17} {'probability gap':>15}"
    )
    for name, ours in here.items():
        theirs = there[name]
        print(
            f"  {name:<52} {(ours.argmax(1) == labels).mean():>16.2%} {(theirs.argmax(1) == labels).mean():>9.2%} "
            f"{(ours.argmax(1) == theirs.argmax(1)).sum():>7} of {len(labels)} {np.abs(theirs - ours).max():>13.2e} "
            f"{np.abs(softmax(theirs) - softmax(ours)).max():>15.2e}"
        )


def softmax(logits: np.ndarray) -> np.ndarray:
    exponents = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exponents / exponents.sum(axis=1, keepdims=True)


if __name__ == "__main__":
    main()
