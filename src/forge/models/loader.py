"""Model names -> local folders, and loading for the hf backend (torch, imported inside functions).

Built-ins need no network: `builtin:tiny-llama` and `builtin:tiny-gemma3` are tiny randomly
initialised models of the real transformers classes with a small byte-level BPE tokenizer (the
family's special tokens and chat template), built deterministically in a few seconds and cached;
`builtin:gemma-3-270m` comes from forge.models.builtin_gemma.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from forge.errors import ForgeError
from forge.files import publish_built_folder
from forge.models.names import BUILTINS, did_you_mean, try_names
from forge.models.precision import load_dtype_name, loads_in_4bit

BUILTIN_VERSION = "v1"
TINY = {
    # family -> (model class, chat template, special tokens, bos, eos, pad, end of turn)
    "tiny-llama": (
        "llama",
        "llama-3",
        [
            "<|begin_of_text|>",
            "<|end_of_text|>",
            "<|start_header_id|>",
            "<|end_header_id|>",
            "<|eot_id|>",
            "<|finetune_right_pad_id|>",
        ],
        "<|begin_of_text|>",
        "<|end_of_text|>",
        "<|finetune_right_pad_id|>",
        "<|eot_id|>",
    ),
    "tiny-gemma3": (
        "gemma3",
        "gemma-3",
        ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"],
        "<bos>",
        "<eos>",
        "<pad>",
        "<end_of_turn>",
    ),
}
VOCAB_SIZE = 1536
HUB_TIMEOUT_S = 4.0
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_LEGACY_ID = re.compile(r"^[A-Za-z0-9][\w.-]*$")  # owner-less ids such as gpt2, if cached


class ModelNotFound(ForgeError):
    """kind model_not_found; `cause` says what is at fault: name, path, network, cache or access."""

    kind = "model_not_found"

    def __init__(self, message: str, fix: str, cause: str = "name"):
        super().__init__(message, fix)
        self.cause = cause


def cache_dir() -> Path:
    return Path(os.environ.get("FORGE_CACHE") or Path.home() / ".cache" / "forge")


# --- resolving names ---------------------------------------------------------------------------


def resolve_model_path(name: str) -> str:
    """A built-in, a local folder or a hub id -> something from_pretrained loads without surprises.

    Built-ins and hub ids found in the local HF cache resolve to a local folder, so loading never
    touches the network; an uncached hub id is checked with one short request (or refused at once
    when offline), so a wrong name fails here with the reason rather than deep inside the loader.
    """
    name = name.strip()
    if name.startswith("builtin:"):
        return str(builtin_path(name))
    local = Path(name).expanduser()
    if local.is_dir():
        return str(local.resolve())
    if name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1:
        raise _not_found(name, f"there is no folder {name!r}", "path")
    cached = _cached_snapshot(name) if _HUB_ID.match(name) or _LEGACY_ID.match(name) else None
    if cached:
        return cached
    if not _HUB_ID.match(name):
        raise _not_found(
            name, f"{name!r} is neither a local folder nor a hub id (hub ids look like owner/name)", "name"
        )
    if _offline():
        raise _not_found(
            name, f"{name!r} is not in the local Hugging Face cache and the hub is off (HF_HUB_OFFLINE)", "cache"
        )
    problem = _probe_hub(name)
    if problem:
        raise _not_found(name, *problem)
    return name


def _offline() -> bool:
    flags = (os.environ.get(k, "") for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return any(v.strip().lower() in {"1", "true", "yes", "on"} for v in flags)


def _cached_snapshot(repo_id: str) -> str | None:
    try:
        from huggingface_hub import snapshot_download

        path = snapshot_download(repo_id, local_files_only=True)
    except Exception:
        return None
    return path if (Path(path) / "config.json").exists() else None


def _probe_hub(repo_id: str) -> tuple[str, str] | None:
    """(message, cause) when the hub cannot give us this model; None when it can."""
    try:
        from huggingface_hub import HfApi
        from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

        HfApi().model_info(repo_id, timeout=HUB_TIMEOUT_S)
    except ImportError:
        return None
    except GatedRepoError:
        return f"{repo_id!r} is gated on the hub: accept its licence and log in (hf auth login)", "access"
    except RepositoryNotFoundError:
        return f"{repo_id!r} does not exist on the hub (or is private)", "name"
    except Exception as e:  # DNS, refused, timeout, proxy: the network is at fault
        return f"the hub is unreachable ({type(e).__name__}) and {repo_id!r} is not in the local cache", "network"
    return None


def _not_found(name: str, message: str, cause: str) -> ForgeError:
    fixes = {
        "name": "check the spelling",
        "path": "check the path (relative paths start from the current folder)",
        "network": "connect to the hub once to cache it, or set HF_HUB_OFFLINE=1 and use a cached model",
        "cache": "download it where the hub is reachable (hf download NAME), or use a local folder",
        "access": "log in with a token that has access",
    }
    # only names that exist here (forge.models.names): never an invented one, never this one
    fix = f"{fixes.get(cause, '')}; try {try_names(name)}"
    return ModelNotFound(f"model not found: {message}{did_you_mean(name)}", fix, cause)


# --- built-ins ---------------------------------------------------------------------------------


def builtin_path(name: str) -> Path:
    key = name.removeprefix("builtin:")
    if key == "gemma-3-270m":
        try:
            from forge.models.builtin_gemma import load_gemma_270m_path
        except ImportError as e:
            raise ModelNotFound(
                "builtin:gemma-3-270m is unavailable in this installation",
                "use builtin:tiny-gemma3 or builtin:tiny-llama, or a hub id",
                "name",
            ) from e
        return Path(load_gemma_270m_path())
    if key == "tiny-gemma3-vlm":  # Gemma3ForConditionalGeneration + the real Gemma 3 tokenizer
        from forge.models.builtin_vlm import load_tiny_vlm_path

        return load_tiny_vlm_path()
    if key not in TINY:
        raise ModelNotFound(
            f"model not found: unknown built-in {name!r}{did_you_mean(name)}",
            "built-ins: " + ", ".join(BUILTINS),
        )
    target = cache_dir() / "builtin" / f"{key}-{BUILTIN_VERSION}"
    if (target / "forge-builtin.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=target.parent))
    try:
        build_tiny(key, tmp)
        (tmp / "forge-builtin.json").write_text(json.dumps({"name": name, "version": BUILTIN_VERSION}))
        publish_built_folder(tmp, target, "forge-builtin.json")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def corpus(n: int = 3000, seed: int = 0) -> list[str]:
    """A deterministic little English/JSON/digits corpus, so chat and tool-call text tokenizes compactly."""
    rng = random.Random(seed)
    words = (
        "the a an and or but if then of to in on at for with from by as is are was were be been it this that "
        "these those you we they he she i my your our their what which who when where why how can could "
        "would should will do does did have has had not no yes please thank thanks hello hi sure answer "
        "question model data train training loss step epoch learning rate token tokens text chat user "
        "assistant system tool function call result value name arguments weather city temperature today "
        "time date number list item order price total email send search find book flight hotel ticket "
        "good great small large new old first last next more most less very also only just about into "
        "over after before because while during between each every other some any all many much one two "
        "three four five six seven eight nine ten hundred thousand paris london tokyo berlin york error "
        "file json key string true false null code python run test check plan export status done ready"
    ).split()
    punct = [".", ",", "?", "!", ":", ";", " -", "'s"]
    out = []
    for i in range(n):
        kind = i % 4
        if kind == 3:  # JSON the way tool calls and results look
            args = {rng.choice(words): rng.choice([rng.choice(words), rng.randint(0, 999), True, None])}
            obj = {"name": f"{rng.choice(words)}_{rng.choice(words)}", "arguments": args}
            out.append(json.dumps(obj) if rng.random() < 0.5 else json.dumps(obj, indent=2))
            continue
        sent = [rng.choice(words) for _ in range(rng.randint(4, 16))]
        if rng.random() < 0.5:
            sent.insert(rng.randrange(len(sent)), str(rng.randint(0, 2026)))
        text = " ".join(sent).capitalize() + rng.choice(punct)
        if kind == 2:
            text += "\n" + " ".join(rng.choice(words) for _ in range(rng.randint(3, 9))) + "."
        out.append(text)
    return out


def build_tiny(key: str, folder: Path, seed: int = 0) -> Path:
    """Build one tiny model + tokenizer into `folder` (deterministic: same bytes for the same seed)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import GenerationConfig, PreTrainedTokenizerFast

    from forge.models.templates import template_for

    arch, template, specials, bos, eos, pad, eot = TINY[key]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus(), trainer=trainer)
    # plain encode adds <bos> like the family's tokenizer; offsets stay untrimmed for masking
    bos_id = tok.token_to_id(bos)
    tok.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, bos_id)]
            ),
        ]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=eos, pad_token=pad, padding_side="right"
    )
    tokenizer.chat_template = template_for(template).jinja
    ids = {t: tok.token_to_id(t) for t in (bos, eos, pad, eot)}
    vocab = tok.get_vocab_size()

    torch.manual_seed(seed)
    common = dict(
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        bos_token_id=ids[bos],
        eos_token_id=ids[eos],
        pad_token_id=ids[pad],
    )
    if arch == "llama":
        from transformers import LlamaConfig, LlamaForCausalLM

        model = LlamaForCausalLM(LlamaConfig(**common, tie_word_embeddings=False))
    else:
        from transformers import Gemma3ForCausalLM, Gemma3TextConfig

        cfg = Gemma3TextConfig(**common, head_dim=16, query_pre_attn_scalar=16, sliding_window=128)
        model = Gemma3ForCausalLM(cfg)
    model.generation_config = GenerationConfig(
        bos_token_id=ids[bos], eos_token_id=[ids[eot], ids[eos]], pad_token_id=ids[pad]
    )
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


# --- loading -----------------------------------------------------------------------------------


def load_model_and_tokenizer(model_cfg: Any, *, dtype: Any = None, device: Any = None) -> tuple[Any, Any]:
    """(model, tokenizer) for the hf backend from a forge.config.ModelSection.

    float32 on CPU unless `dtype` (or model.dtype) says otherwise; on CUDA the config's dtype or
    bfloat16 where supported. model.load_in_4bit loads nf4 weights only on CUDA with bitsandbytes
    installed (full precision elsewhere: callers say so). trust_remote_code comes only from the config.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model_path(model_cfg.name)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    cuda = device.type == "cuda"
    if dtype is None:
        dtype = getattr(torch, load_dtype_name(model_cfg, cuda=cuda, bf16=cuda and torch.cuda.is_bf16_supported()))
    elif isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    trust = bool(getattr(model_cfg, "trust_remote_code", False))
    kwargs: dict[str, Any] = {}
    quantized = loads_in_4bit(model_cfg, cuda=cuda)
    if quantized:  # QLoRA: nf4 weights placed on the GPU by the loader (a 4-bit model cannot be moved)
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype,
        )
        kwargs["device_map"] = {"": device.index or 0}
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, trust_remote_code=trust, **kwargs)
    except (OSError, ValueError) as e:
        raise ModelNotFound(
            f"could not load model {model_cfg.name!r} from {path}: {e}",
            "check that the folder holds config.json, the weights (safetensors) and the tokenizer files",
            "cache",
        ) from e
    if tokenizer.pad_token is None:
        # a pad distinct from eos where the vocabulary has one; padded positions are masked anyway
        vocab = tokenizer.get_vocab()
        pad = next((t for t in ("<|finetune_right_pad_id|>", "<pad>", "<|pad|>") if t in vocab), None)
        tokenizer.pad_token = pad or tokenizer.unk_token or tokenizer.eos_token
    if not quantized:
        model.to(device)
    return model, tokenizer


def same_model(path: str, name: str) -> bool:
    """Whether model name `name` (a hub id, a folder, a built-in) resolves to the folder `path`:
    how export and evaluate compare an adapter's recorded base with model.name."""
    try:
        return Path(resolve_model_path(name)).resolve() == Path(path).resolve()
    except Exception:  # a name that does not resolve here is not that folder
        return False
