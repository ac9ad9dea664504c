"""Val loss of ways to make a Q8_0 GGUF of one trained project: which one keeps the adapter's loss.

    python3 bench/gguf_q8_variants.py PROJECT [--variants NAME,...] [--work DIR]

PROJECT is a trained and exported forge project (forge demo's, for Gemma 3 270M: the merged folder
must exist). Each variant is written into --work (default PROJECT/../q8-variants) from the merged
folder and scored exactly as `forge evaluate --artifact gguf:...` scores the loss (the same val
examples, training's masking, llama.cpp's batched evaluation); nothing is written to the project.

Variants:
  conv-f16         the converter's F16 (the reference: matches the adapter)
  conv-q8          the converter's Q8_0 (what forge export wrote before)
  quant-q8         llama.cpp's quantizer, Q8_0 from conv-f16
  quant-q8-out16   the quantizer's Q8_0 with output_tensor_type F16 (a tied embedding is the output)
  quant-q8-emb16   the quantizer's Q8_0 with token_embedding_type F16
  conv-q8-emb16    the converter's Q8_0 with token_embd kept F16
  conv-f16-emb8    the converter's F16 with only token_embd in Q8_0 (ablation)
  f32-q8rt         every tensor Q8_0 would quantize, quantized and dequantized, written F32: the
                   file's rounding without llama.cpp's Q8_0 kernels (which quantize activations too)
  f32merge-q8      the converter's Q8_0 of a float32 merge (no bfloat16 rounding before it)
Prints one JSON object (loss, size, tensor types per variant) and markdown rows.
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

ALL = "conv-f16,conv-q8,quant-q8,quant-q8-out16,quant-q8-emb16,conv-q8-emb16,conv-f16-emb8,f32-q8rt,f32merge-q8"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("project", type=Path)
    ap.add_argument("--variants", default=ALL)
    ap.add_argument("--work", type=Path)
    ap.add_argument("--keep", action="store_true", help="keep the GGUF files")
    args = ap.parse_args(argv)
    project = args.project.resolve()
    work = (args.work or project.parent / "q8-variants").resolve()
    work.mkdir(parents=True, exist_ok=True)
    examples, cfg = _val_examples(project)
    merged = project / "models" / "checkpoints" / "merged"
    record = json.loads((project / "metrics" / "evaluation.json").read_text())
    adapter_loss = record["fine_tuned_scores"]["val_loss"]
    rows = []
    for name in [v.strip() for v in args.variants.split(",") if v.strip()]:
        t0 = time.monotonic()
        path = _make(name, merged, work, project)
        made = time.monotonic() - t0
        loss = _loss(cfg, path, examples)
        row = {
            "variant": name,
            "val_loss": loss,
            "vs_adapter_pct": round(100 * (loss - adapter_loss) / adapter_loss, 2),
            "bytes": path.stat().st_size,
            "types": _types(path),
            "make_seconds": round(made, 1),
        }
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
        if not args.keep and name != "conv-f16":
            path.unlink()
    print(json.dumps({"project": str(project), "adapter_val_loss": adapter_loss, "rows": rows}, indent=2))
    for r in rows:
        print(
            f"| {r['variant']} | {r['val_loss']} | {r['vs_adapter_pct']:+.2f}% | {r['bytes'] / 1e6:.0f} MB | {r['types']} |"
        )
    return 0


def _val_examples(project: Path):
    from forge.config.verb_config import reader_config
    from forge.evaluate.baseline import load_val
    from forge.evaluate.loaders import training_tokenizer
    from forge.project import Project
    from forge.train.dataset import tokenize_conversations

    p = Project.existing(project)
    val = load_val(p, None, reader_config(p))
    tok, _, _ = training_tokenizer(val.cfg)
    examples, _ = tokenize_conversations(val.conversations, tok, val.cfg.model.max_seq_length)
    return examples, val.cfg


def _loss(cfg, path: Path, examples) -> float:
    from forge.evaluate.artifacts import Artifact
    from forge.evaluate.loaders import load_artifact

    loaded = load_artifact(cfg, Artifact(f"gguf:{path.stem}", "gguf", path, "q8_0"))
    try:
        return loaded.loss(examples)["val_loss"]
    finally:
        loaded.close()


def _types(path: Path) -> dict[str, str]:
    """'token_embd' -> type, and 'blocks' -> the count of each type among the other tensors."""
    import gguf

    reader = gguf.GGUFReader(str(path))
    out: dict[str, str] = {}
    blocks: collections.Counter = collections.Counter()
    for t in reader.tensors:
        if t.name in ("token_embd.weight", "output.weight"):
            out[t.name.split(".")[0]] = t.tensor_type.name
        elif len(t.shape) > 1:
            blocks[t.tensor_type.name] += 1
    out["matrices"] = ", ".join(f"{k} {v}" for k, v in sorted(blocks.items()))
    return out


def _make(name: str, merged: Path, work: Path, project: Path) -> Path:
    import gguf

    import forge.export.gguf as G

    out = work / f"{name}.gguf"
    Q8, F16 = gguf.GGMLQuantizationType.Q8_0, gguf.GGMLQuantizationType.F16
    f16 = work / "conv-f16.gguf"
    if name == "conv-f16":
        if not out.is_file():
            G.convert(merged, out, "f16")
    elif name == "conv-q8":
        G.convert(merged, out, "q8_0")
    elif name.startswith("quant-q8"):
        if not f16.is_file():
            G.convert(merged, f16, "f16")
        over = {"quant-q8-out16": "output_tensor_type", "quant-q8-emb16": "token_embedding_type"}.get(name)
        _quantize(f16, out, over)
    elif name == "conv-q8-emb16":
        _hooked(merged, out, "MOSTLY_Q8_0", force=lambda n: F16 if n == "token_embd.weight" else None)
    elif name == "conv-f16-emb8":
        _hooked(merged, out, "MOSTLY_F16", force=lambda n: Q8 if n == "token_embd.weight" else None)
    elif name == "f32-q8rt":
        _hooked(merged, out, "ALL_F32", roundtrip=True)
    elif name == "f32merge-q8":
        folder = _float32_merge(project, merged, work / "merged-f32")
        G.convert(folder, out, "q8_0")
        shutil.rmtree(folder)
    else:
        raise SystemExit(f"unknown variant {name}; known: {ALL}")
    return out


def _quantize(src: Path, out: Path, override: str | None) -> None:
    import os

    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0
    params.nthread = os.cpu_count() or 2
    if override:
        setattr(params, override, llama_cpp.GGML_TYPE_F16)
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(out).encode(), params)
    if rc != 0:
        raise SystemExit(f"quantize failed: {rc}")


def _hooked(merged: Path, out: Path, ftype_name: str, *, force=None, roundtrip: bool = False) -> None:
    """The converter with a per-tensor type (force: GGUF name -> type or None) or with every tensor
    Q8_0 would quantize replaced by its Q8_0 round trip (roundtrip)."""
    import gguf
    import numpy as np
    import torch

    import forge.export.gguf as G

    base, _ = G.converter_class(merged)

    class Hooked(base):
        model_arch = base.model_arch

        def tensor_force_quant(self, name, new_name, bid, n_dims):
            q = force(new_name) if force else None
            return q if q is not None else super().tensor_force_quant(name, new_name, bid, n_dims)

        def modify_tensors(self, data, name, bid):
            for new_name, t in super().modify_tensors(data, name, bid):
                if roundtrip and t.ndim >= 2 and not new_name.endswith("_norm.weight"):
                    arr = t.to(torch.float32).numpy()
                    q = gguf.quants.quantize(arr, gguf.GGMLQuantizationType.Q8_0)
                    back = gguf.quants.dequantize(q, gguf.GGMLQuantizationType.Q8_0)
                    t = torch.from_numpy(np.ascontiguousarray(back, dtype=np.float32).reshape(arr.shape))
                yield new_name, t

    ftype = getattr(gguf.LlamaFileType, ftype_name)
    with torch.inference_mode():
        inst = Hooked(merged, ftype, out, is_big_endian=False, use_temp_file=False, eager=True,
                      metadata_override=None, model_name="variant", split_max_tensors=0, split_max_size=0,
                      dry_run=False, small_first_shard=False, remote_hf_model_id=None)  # fmt: skip
        inst.write()


def _float32_merge(project: Path, merged: Path, folder: Path) -> Path:
    """The adapter merged in float32 and saved in float32, with the merged folder's tokenizer files."""
    import torch

    from forge.config import load_config
    from forge.export.merge import load_base_with_adapter
    from forge.models.loader import resolve_model_path

    cfg = load_config(project / "training-config.json")
    model, _ = load_base_with_adapter(
        resolve_model_path(cfg.model.name),
        project / "models" / "checkpoints" / "lora",
        device="cpu",
        dtype=torch.float32,
    )
    model = model.merge_and_unload()
    model.config.dtype = torch.float32
    model.save_pretrained(str(folder), safe_serialization=True)
    for f in merged.iterdir():
        if f.is_file() and not f.name.endswith(".safetensors") and f.name not in ("config.json",):
            if not (folder / f.name).exists():
                shutil.copyfile(f, folder / f.name)
    return folder


if __name__ == "__main__":
    sys.exit(main())
