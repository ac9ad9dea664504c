"""Which modules get a LoRA adapter: lora.target_modules under the lora.finetune_* switches (pure).

Both backends ask this one function, so the switches mean the same on either (and on every rank
of a data-parallel run: the answer depends only on the model's module names):

- finetune_vision_layers / finetune_language_layers: a module is in the vision part when a
  component of its path names the vision tower or the projector (vision_tower, vision_model,
  multi_modal_projector, visual, image, patch...), else in the language part. A text-only model
  has no vision part: finetune_vision_layers is ignored there (with a note), and
  finetune_language_layers=false leaves nothing to train (refused).
- finetune_attention_modules / finetune_mlp_modules: a module is attention when its path runs
  through an attention block (self_attn, attention, attn, cross_attn), MLP when through an MLP
  block (mlp, feed_forward, ffn); the leaf name must also be one of lora.target_modules.

Why a list of full module names for vision-language models: PEFT matches a plain leaf name such
as `q_proj` anywhere, and SigLIP's attention has q/k/v_proj too, which is how 12 of 68 adapter
tensors used to land in the vision tower with finetune_vision_layers false. For a text-only model
the leaf list is kept as it was (PEFT's and Unsloth's usual form; same modules).

What a name may be: the last part of the path of a linear layer (q_proj). Before any weights load
(forge.plan.refusals, from the checkpoint's headers) and again on the loaded model (module_kinds),
`choose` refuses, naming each one and this model's linear layers:
- the LM head (lm_head): TRL's SFTTrainer computes the loss from its weight directly, so it
  refuses an adapter there ("Applying a PEFT adapter to `lm_head` is not supported"), after the
  model had loaded;
- an embedding (embed_tokens), a norm (input_layernorm), another non-linear layer: forge adapts
  linear layers only (PEFT raised "Target module LlamaRMSNorm() is not supported" for a norm; an
  embedding was dropped without a word);
- a block (self_attn, mlp, layers) or a dotted path;
- a name no module has, in a list the user wrote; the default list keeps skipping the names a
  model lacks, with a note, as it always did.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from forge.config import DEFAULT_TARGET_MODULES
from forge.errors import EXIT_USAGE, ForgeError
from forge.models.facts import OUTPUT_LEAVES

VISION_PARTS = ("vision_tower", "vision_model", "multi_modal_projector", "visual", "vision", "image", "patch")
ATTENTION_PARTS = ("self_attn", "attention", "attn", "cross_attn")
MLP_PARTS = ("mlp", "feed_forward", "ffn")


@dataclass
class LoraTargets:
    """`spec` goes to PEFT / Unsloth as target_modules: a leaf list, or a regex of full names."""

    spec: list[str] | str
    names: list[str]  # the modules that get an adapter
    vision: int = 0  # of which in the vision part
    has_vision: bool = False
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # names of the default list this model lacks


def _parts(name: str) -> list[str]:
    return name.split(".")


def is_vision(name: str) -> bool:
    return any(p.startswith(VISION_PARTS) for p in _parts(name))


def _block(name: str) -> str | None:
    parents = _parts(name)[:-1]
    if any(p in ATTENTION_PARTS for p in parents):
        return "attention"
    if any(p in MLP_PARTS for p in parents):
        return "mlp"
    return None


def _refuse(message: str, fix: str) -> ForgeError:
    return ForgeError(message, fix, exit_code=EXIT_USAGE, kind="config")


def _leaves(paths: Iterable[str]) -> list[str]:
    """The layer names of these paths: the usual ones in the default list's order, then the model's."""
    usual = {name: i for i, name in enumerate(DEFAULT_TARGET_MODULES)}
    return sorted(dict.fromkeys(p.rsplit(".", 1)[-1] for p in paths), key=lambda leaf: usual.get(leaf, len(usual)))


def unadaptable(kinds: Mapping[str, str], targets: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(problems, names to skip, names of the linear layers) of lora.target_modules on a model whose
    modules holding a weight are `kinds` (path -> forge.models.facts.module_kind's word)."""
    by_leaf: dict[str, set[str]] = {}
    for path, kind in kinds.items():
        by_leaf.setdefault(path.rsplit(".", 1)[-1], set()).add(kind)
    linear = [leaf for leaf in _leaves(p for p, k in kinds.items() if k == "linear") if leaf not in OUTPUT_LEAVES]
    blocks = {part for p in kinds for part in p.split(".")[:-1]}
    own_list = sorted(targets) != sorted(DEFAULT_TARGET_MODULES)
    problems, skipped = [], []
    for t in dict.fromkeys(targets):
        got = by_leaf.get(t, set())
        if t in OUTPUT_LEAVES or "output" in got:
            problems.append(
                f"{t} is the model's output layer (the LM head): TRL's SFTTrainer computes the loss from its "
                "weight directly, so an adapter there would never train (it refuses one)"
            )
        elif "linear" in got:
            continue
        elif "embedding" in got:
            problems.append(f"{t} is an embedding, not a linear layer (forge puts LoRA adapters on linear layers)")
        elif "norm" in got:
            problems.append(f"{t} is a norm or a scale (a 1-D weight), not a linear layer")
        elif got:
            problems.append(f"{t} is not a linear layer")
        elif t in blocks:
            inside = _leaves(p for p, k in kinds.items() if k == "linear" and f".{t}." in f".{p}")
            problems.append(f"{t} is a block of layers, not one layer (its linear layers: {', '.join(inside)})")
        elif "." in t:
            problems.append(
                f"{t} is a path: name the layer alone, as the last part of its path ({t.rsplit('.', 1)[-1]})"
            )
        elif own_list:
            near = difflib.get_close_matches(t, linear, n=1, cutoff=0.6)
            problems.append(f"{t} is not a layer of this model" + (f" (did you mean {near[0]}?)" if near else ""))
        else:
            skipped.append(t)
    return problems, skipped, linear


def choose(modules: Mapping[str, str] | Iterable[str], lora) -> LoraTargets:
    """The modules the config selects: `modules` maps the path of each module holding a weight to
    its kind (forge.models.facts.module_kind); a plain list is of linear layers (nn.Linear paths)."""
    kinds = dict(modules) if isinstance(modules, Mapping) else {n: "linear" for n in modules}
    problems, skipped, linear = unadaptable(kinds, list(lora.target_modules))
    if problems:
        raise _refuse(
            "lora.target_modules: " + "; ".join(problems),
            "set lora.target_modules to linear layers of this model"
            + (f" (any of: {', '.join(linear)})" if linear else ""),
        )
    names = [n for n, k in kinds.items() if k == "linear" and n.rsplit(".", 1)[-1] not in OUTPUT_LEAVES]
    has_vision = any(is_vision(n) for n in names)
    wanted = set(lora.target_modules)
    notes: list[str] = []
    if skipped:
        notes.append(f"target_modules not in this model, skipped: {', '.join(skipped)}")
    if not has_vision:
        if not lora.finetune_language_layers:
            raise _refuse(
                "lora.finetune_language_layers is false and this model has no vision tower: nothing to train",
                "set lora.finetune_language_layers to true",
            )
        if lora.finetune_vision_layers:
            notes.append("finetune_vision_layers is set but this model has no vision tower: ignored")
    elif not (lora.finetune_language_layers or lora.finetune_vision_layers):
        raise _refuse(
            "lora.finetune_language_layers and lora.finetune_vision_layers are both false: nothing to train",
            "set lora.finetune_language_layers to true (the usual choice) or lora.finetune_vision_layers",
        )
    chosen = []
    for n in names:
        if n.rsplit(".", 1)[-1] not in wanted:
            continue
        vision = is_vision(n)
        if vision and not lora.finetune_vision_layers or not vision and not lora.finetune_language_layers:
            continue
        block = _block(n)
        if block == "attention" and not lora.finetune_attention_modules:
            continue
        if block == "mlp" and not lora.finetune_mlp_modules:
            continue
        chosen.append(n)
    if not chosen:
        raise _refuse(
            f"no LoRA target module left: lora.target_modules ({', '.join(lora.target_modules)}) under the "
            "finetune_vision/language/attention/mlp switches select no layer of this model",
            "turn finetune_attention_modules or finetune_mlp_modules on, or widen lora.target_modules "
            "to the model's linear layer names"
            + (f" (any of: {', '.join(linear)})" if linear else " (e.g. q_proj, v_proj)"),
        )
    if has_vision:
        spec: list[str] | str = "(?:" + "|".join(re.escape(n) for n in chosen) + ")"
    else:
        leaves = {n.rsplit(".", 1)[-1] for n in chosen}
        spec = [t for t in lora.target_modules if t in leaves]
    return LoraTargets(spec, chosen, sum(is_vision(n) for n in chosen), has_vision, notes, skipped)


def module_kinds(model) -> dict[str, str]:
    """What forge.models.facts.weight_modules reads from the headers, from the loaded modules'
    classes: every module holding a weight of its own -> linear, embedding, output, norm or other
    (torch imported here only)."""
    import torch

    try:
        head = model.get_output_embeddings()
    except (AttributeError, NotImplementedError):
        head = None
    kinds = {}
    for name, m in model.named_modules():
        weight = getattr(m, "_parameters", {}).get("weight")
        if weight is None:
            continue
        if m is head or name.rsplit(".", 1)[-1] in OUTPUT_LEAVES:
            kinds[name] = "output"
        elif isinstance(m, torch.nn.Linear):  # bitsandbytes' Linear4bit too
            kinds[name] = "linear"
        elif isinstance(m, torch.nn.Embedding):
            kinds[name] = "embedding"
        else:
            kinds[name] = "norm" if weight.dim() == 1 else "other"
    return kinds


def for_model(model, lora) -> LoraTargets:
    """`choose` over a loaded model's modules: the same answer check gave from the headers."""
    return choose(module_kinds(model), lora)
