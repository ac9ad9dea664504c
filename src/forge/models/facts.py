"""Model facts read from the model's own files, without loading weights and without torch.

    config.json                 architecture, model_type, the text (and vision) shape, whether there
                                is a vision tower (has_vision), the weights' dtype
    tokenizer.json              the tokens that are never split (added tokens), the vocabulary size
    tokenizer_config.json,      bos / eos / pad / unk, the chat template (or chat_template.jinja,
    special_tokens_map.json     chat_template.json beside it, as transformers 5 saves them)
    generation_config.json      the eos ids generation stops at
    preprocessor_config.json,   a processor (a vision-language model)
    processor_config.json

The files come from a local folder, a built-in's folder, or the local Hugging Face cache (offline:
`try_to_load_from_cache` reads the cache layout and never touches the network). Only a model not on
disk yet falls back to the name table (forge.models.shape.shape_for_name), and says so.

Callers that need one fact of a folder, not all of them, ask the small functions below read_facts
(model_config, has_vision, vision_config, stored_dtype, own_chat_template): they read the same
files in the same places with the same helpers, so export, training and planning cannot disagree
about what a vision-language model is or which template is the model's own.

A ModelFacts also stands in for a tokenizer where forge.models.templates needs one (chat_template,
bos_token, eos_token, ..., single_tokens), so that the template check before training gives the
answer training will get from the loaded tokenizer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forge.models.shape import ModelShape, ShapeUnreadable, from_config, shape_for_name

SPECIAL_KEYS = ("bos_token", "eos_token", "pad_token", "unk_token")
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")


@dataclass
class ModelFacts:
    name: str
    folder: str | None = None  # where the files were read; None when the model is not on disk
    source: str = "unknown"  # files | table | unknown
    architecture: str | None = None  # config.json architectures[0], e.g. Gemma3ForConditionalGeneration
    model_type: str | None = None
    shape: ModelShape | None = None
    vocab_size: int | None = None  # the tokenizer's (ids 0..n-1)
    specials: dict[str, str] = field(default_factory=dict)  # bos_token, eos_token, pad_token, unk_token
    single_tokens: frozenset[str] | None = None  # tokens never split; None when tokenizer.json is absent
    chat_template: str | None = None  # the model's own
    end_of_turn: str | None = None  # what the own template writes after an assistant turn
    eos_ids: tuple[int, ...] = ()  # generation_config.json
    eos_tokens: tuple[str, ...] = ()  # the same ids as tokens, where known
    processor: bool = False  # processor files beside it (an image or an audio processor)
    vision_tower: bool = False  # config.json has a vision_config: see has_vision
    dtype: str | None = None  # the dtype config.json records for the weights (stored_dtype)
    problem: str | None = None  # why the files could not be read (the table or nothing was used)

    # --- what forge.models.templates reads from a tokenizer
    @property
    def bos_token(self) -> str | None:
        return self.specials.get("bos_token")

    @property
    def eos_token(self) -> str | None:
        return self.specials.get("eos_token")

    @property
    def pad_token(self) -> str | None:
        return self.specials.get("pad_token")

    @property
    def unk_token(self) -> str | None:
        return self.specials.get("unk_token")

    @property
    def is_vision(self) -> bool:
        """A vision-language model: config.json's vision_config where the files were read (the test of
        has_vision), the name table's vision tower where they were not."""
        if self.source == "files":
            return self.vision_tower
        return bool(self.shape and self.shape.vision_params)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "folder": self.folder,
            "source": self.source,
            "architecture": self.architecture,
            "model_type": self.model_type,
            "shape": self.shape.to_dict() if self.shape else None,
            "vocab_size": self.vocab_size,
            "special_tokens": dict(self.specials),
            "has_chat_template": bool(self.chat_template),
            "end_of_turn": self.end_of_turn,
            "eos_tokens": list(self.eos_tokens),
            "processor": self.processor,
            "vision_tower": self.is_vision,
            "dtype": self.dtype,
            "problem": self.problem,
        }


# ------------------------------------------------------------------------------ finding the files


def model_folder(name: str) -> tuple[Path | None, str | None]:
    """(folder holding config.json, None) or (None, why not) for a name, without any network."""
    name = name.strip()
    if not name:
        return None, "model.name is empty"
    if name.startswith("builtin:"):
        return _builtin_folder(name)
    local = Path(name).expanduser()
    if local.is_dir():
        return (local.resolve(), None) if (local / "config.json").is_file() else (None, f"{name}: no config.json")
    if name.startswith((".", "/", "~")):
        return None, f"there is no folder {name!r}"
    return _cached(name)


def _builtin_folder(name: str) -> tuple[Path | None, str | None]:
    from forge.models.loader import TINY, builtin_path

    key = name.removeprefix("builtin:")
    if key in TINY or key == "tiny-gemma3-vlm":
        return builtin_path(name), None  # built in seconds (torch) and cached
    if key == "gemma-3-270m":
        try:
            from forge.models import builtin_gemma
        except ImportError:
            return None, "builtin:gemma-3-270m is unavailable in this installation"
        # its first conversion takes most of a minute: facts wait for it, planning uses the table
        if builtin_gemma.is_cached():
            return builtin_gemma.target_dir(), None
        return None, "builtin:gemma-3-270m is not converted yet (the first `forge train` does it)"
    from forge.models.names import did_you_mean

    return None, f"unknown built-in {name!r}{did_you_mean(name)}"


def _cached(repo_id: str) -> tuple[Path | None, str | None]:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None, "huggingface_hub is not installed"
    try:
        hit = try_to_load_from_cache(repo_id, "config.json")
    except Exception as e:  # a malformed id
        return None, f"{repo_id!r}: {type(e).__name__}"
    if isinstance(hit, str):
        return Path(hit).parent, None
    return None, f"{repo_id} is not in the local Hugging Face cache"


# ------------------------------------------------------------------------------ reading them


def read_facts(name: str) -> ModelFacts:
    """Every fact forge can read about `name`; the name table only where no files are at hand."""
    folder, why = model_folder(name)
    if folder is None:
        shape = shape_for_name(name) if name.strip() else None
        return ModelFacts(name=name, source="table" if shape else "unknown", shape=shape, problem=why)
    return read_folder(folder, name)


def read_folder(folder: Path, name: str | None = None) -> ModelFacts:
    folder = Path(folder)
    facts = ModelFacts(name=name or str(folder), folder=str(folder), source="files")
    config = _config(folder) or {}
    archs = config.get("architectures") or []
    facts.architecture = archs[0] if archs else None
    facts.model_type = config.get("model_type")
    facts.vision_tower = _has_vision_config(config)
    facts.dtype = _stored_dtype(config)
    try:
        facts.shape = from_config(config, facts.name)
    except ShapeUnreadable as e:
        facts.problem = f"{folder / 'config.json'}: {e}"
    id_to_token = _read_tokenizer(folder, facts)
    gen = _json(folder / "generation_config.json") or {}
    eos = gen.get("eos_token_id", config.get("eos_token_id"))
    facts.eos_ids = tuple(eos if isinstance(eos, list) else [eos] if isinstance(eos, int) else [])
    facts.eos_tokens = tuple(id_to_token[i] for i in facts.eos_ids if i in id_to_token)
    facts.processor = any((folder / f).is_file() for f in PROCESSOR_FILES)
    if facts.chat_template:
        from forge.models.jinja_render import probe_end_of_turn

        facts.end_of_turn = probe_end_of_turn(facts.chat_template, dict(facts.specials))
    return facts


def _read_tokenizer(folder: Path, facts: ModelFacts) -> dict[int, str]:
    """Fill the tokenizer facts; return the ids of the added (never split) tokens."""
    tc = _json_object(folder / "tokenizer_config.json") or {}
    stm = _json_object(folder / "special_tokens_map.json") or {}
    for key in SPECIAL_KEYS:
        value = _token_text(tc.get(key)) or _token_text(stm.get(key))
        if value:
            facts.specials[key] = value
    facts.chat_template = _chat_template(folder, tc)
    id_to_token: dict[int, str] = {}
    for sid, entry in (tc.get("added_tokens_decoder") or {}).items():
        if isinstance(entry, dict) and entry.get("content") and str(sid).isdigit():
            id_to_token[int(sid)] = entry["content"]
    tj = _json(folder / "tokenizer.json")
    if isinstance(tj, dict):
        added = tj.get("added_tokens") or []
        for t in added:
            if isinstance(t, dict) and "content" in t and isinstance(t.get("id"), int):
                id_to_token[t["id"]] = t["content"]
        vocab = (tj.get("model") or {}).get("vocab")
        size = len(vocab) if isinstance(vocab, (dict, list)) else 0
        facts.vocab_size = max([size, *(i + 1 for i in id_to_token)]) if (size or id_to_token) else None
        facts.single_tokens = frozenset(id_to_token.values())
    elif id_to_token:  # a sentencepiece-only tokenizer: its added tokens are what the config lists
        facts.single_tokens = frozenset(id_to_token.values())
    return id_to_token


def _chat_template(folder: Path, tc: dict) -> str | None:
    jinja_file = folder / "chat_template.jinja"
    if jinja_file.is_file():
        return jinja_file.read_text(encoding="utf-8")
    ct = tc.get("chat_template")
    if ct is None:
        ct = (_json_object(folder / "chat_template.json") or {}).get("chat_template")
    if isinstance(ct, list):  # [{"name": "default", "template": ...}, ...]
        named = {d.get("name"): d.get("template") for d in ct if isinstance(d, dict)}
        ct = named.get("default") or next(iter(named.values()), None)
    return ct if isinstance(ct, str) and ct.strip() else None


def _token_text(v: Any) -> str | None:
    if isinstance(v, str):
        return v
    if isinstance(v, dict) and isinstance(v.get("content"), str):
        return v["content"]
    return None


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _json_object(path: Path) -> dict[str, Any] | None:
    data = _json(path)
    return data if isinstance(data, dict) else None


# ------------------------------------------------------------------------------ one fact at a time


def _folder_of(path_or_name: str | Path) -> Path | None:
    """The folder to read: a local folder as it is (with or without config.json), else a built-in's
    or the Hugging Face cache's folder, found as read_facts finds it (model_folder)."""
    local = Path(path_or_name).expanduser()
    if local.is_dir():
        return local
    if isinstance(path_or_name, Path):
        return None
    return model_folder(path_or_name)[0]


def _config(folder: Path) -> dict[str, Any] | None:
    return _json_object(folder / "config.json")


def model_config(path_or_name: str | Path, *, strict: bool = False) -> dict[str, Any] | None:
    """config.json of a model folder, a built-in or a cached hub id, as a dict; None when it is
    missing, unreadable or not a JSON object. strict (a folder only): a missing or unreadable file
    raises OSError / ValueError instead, for callers whose folder was just written."""
    if strict:
        data = json.loads((Path(path_or_name) / "config.json").read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"{Path(path_or_name) / 'config.json'} is not a JSON object")
        return data
    folder = _folder_of(path_or_name)
    return _config(folder) if folder is not None else None


def _has_vision_config(config: dict[str, Any] | None) -> bool:
    return isinstance(config, dict) and "vision_config" in config


def has_vision(path_or_name: str | Path) -> bool:
    """Whether the model has a vision tower: its config.json has a vision_config. The one test of a
    vision-language model (export's processor, vision and mmproj steps, the Unsloth backend's
    FastModel, ModelFacts.is_vision). False when config.json is missing or unreadable."""
    return _has_vision_config(model_config(path_or_name))


def vision_config(path_or_name: str | Path, *, strict: bool = False) -> dict[str, Any]:
    """config.json's vision_config (image_size, patch_size, num_hidden_layers, ...); {} when there is
    none. strict: as model_config's."""
    vision = (model_config(path_or_name, strict=strict) or {}).get("vision_config")
    return vision if isinstance(vision, dict) else {}


def _stored_dtype(config: dict[str, Any]) -> str | None:
    text = config.get("text_config")
    dtype = config.get("dtype") or config.get("torch_dtype") or (text.get("dtype") if isinstance(text, dict) else None)
    return dtype if isinstance(dtype, str) else None


def stored_dtype(path_or_name: str | Path) -> str | None:
    """The dtype config.json records for the weights (dtype, torch_dtype, or its text_config's)."""
    return _stored_dtype(model_config(path_or_name) or {})


def own_chat_template(path_or_name: str | Path) -> str | None:
    """The model's own chat template, as read_facts reads it: chat_template.jinja, else
    tokenizer_config.json's chat_template (a list: its "default"), else chat_template.json's."""
    folder = _folder_of(path_or_name)
    if folder is None:
        return None
    return _chat_template(folder, _json_object(folder / "tokenizer_config.json") or {})


# What a module holding a weight is, as LoRA sees it (forge.train.lora_targets): "linear" (what
# forge adapts), "embedding", "output" (the LM head, whose weight the loss reads directly), "norm"
# (a 1-D weight: a norm or a scale) or "other" (a convolution, ...).
OUTPUT_LEAVES = ("lm_head", "embed_out")
EMBEDDING_LEAVES = ("wte", "wpe")  # GPT-2's; every other family spells "embed" in the name


def module_kind(path: str, shape: list[int] | tuple[int, ...]) -> str:
    """The kind of the module at `path` from its weight's shape (a safetensors header's), without
    torch: the loaded model says the same from the module's class (lora_targets.module_kinds)."""
    leaf = path.rsplit(".", 1)[-1]
    if leaf in OUTPUT_LEAVES:
        return "output"
    if len(shape) == 1:
        return "norm"
    if len(shape) != 2:
        return "other"
    if "embed" in leaf or leaf in EMBEDDING_LEAVES:
        return "embedding"
    return "linear"  # nn.Linear [out, in]; packed 4-bit [n, 1]; GPTQ/AWQ qweight


def _header(file: Path) -> dict[str, Any]:
    import struct

    try:
        with open(file, "rb") as fh:  # the header only: 8 bytes of length, then JSON
            n = struct.unpack("<Q", fh.read(8))[0]
            if n > 100 << 20:
                return {}
            header = json.loads(fh.read(n))
    except (OSError, ValueError, struct.error):
        return {}
    return header if isinstance(header, dict) else {}


def weight_modules(folder: str | Path | None) -> dict[str, str] | None:
    """Every module holding a weight (model.layers.0.self_attn.q_proj, ...) -> its kind (module_kind),
    from the safetensors headers (the shards the index names): what LoRA can adapt, without loading
    any weight. None: unknown (no safetensors here)."""
    if not folder:
        return None
    folder = Path(folder)
    index = _json(folder / "model.safetensors.index.json")
    if isinstance(index, dict) and isinstance(index.get("weight_map"), dict):
        files = [folder / f for f in dict.fromkeys(index["weight_map"].values()) if isinstance(f, str)]
    else:
        files = sorted(folder.glob("*.safetensors"))[:8]
    out: dict[str, str] = {}
    for f in files:
        for name, info in _header(f).items():
            if name == "__metadata__" or not name.endswith((".weight", ".qweight")) or not isinstance(info, dict):
                continue
            shape = info.get("shape")
            path = name.rsplit(".", 1)[0]
            out.setdefault(path, module_kind(path, shape if isinstance(shape, list) else []))
    return out or None
