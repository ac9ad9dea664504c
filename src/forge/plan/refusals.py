"""What would stop `forge train`, found before any weights load: one list for check and train.

Each class below used to pass `forge check` and then fail (or silently misbehave) in training:
- template: an unknown chat_template; a named one whose markers are not single tokens of the
  model (trained as text: the model never stops); `auto` with neither a template nor a family;
- samples: fewer usable conversations than dataset.min_samples (check failed them, train trained);
- truncation: more examples than training.max_dropped_fraction keep no trained token because the
  prompt alone reaches max_seq_length (training drops them and refuses);
- lora_targets: a name of lora.target_modules that is not a linear layer of the model (the LM head,
  an embedding, a norm, a block, a name it lacks), or none left under the finetune_* switches;
- sizes and memory: an estimate that cannot fit even at the micro-batch the OOM backoff reaches
  (lora.r=1000000000 used to fail as "unexpected error ... can't allocate"), or beyond the RAM on
  a CPU.
Warnings are said by check and logged by train; they never stop it.
"""

from __future__ import annotations

from forge.config import ForgeConfig
from forge.errors import ForgeError
from forge.models.facts import ModelFacts, weight_modules
from forge.plan.hardware import HardwareInfo
from forge.plan.settings import Plan, Setting
from forge.plan.settings import refuse as _refuse
from forge.plan.settings import warn as _warn
from forge.plan.stats import DataStats

MIN_SAMPLES = 100  # the original checklist
RECOMMENDED_SAMPLES = 1000
# random weights: a minimum means nothing
TEST_MODELS = ("builtin:tiny-llama", "builtin:tiny-gemma3", "builtin:tiny-gemma3-vlm")


def min_samples(config: ForgeConfig) -> tuple[int, str]:
    value = config.dataset.min_samples
    if value != "auto":
        return int(value), "set by you"
    if config.model.name.strip() in TEST_MODELS:
        return 1, f"auto: {config.model.name} is a random test model, so any amount of data will do"
    return MIN_SAMPLES, f"auto: the original checklist's minimum ({RECOMMENDED_SAMPLES}+ recommended)"


def add_refusals(
    p: Plan,
    config: ForgeConfig,
    facts: ModelFacts,
    data: DataStats,
    hw: HardwareInfo,
    explicit: set[str],
    root=None,
) -> None:
    """Every refusal and warning of this plan; `root`: the project folder that relative output
    paths are checked under (None: only absolute ones are)."""
    from forge.models.names import try_names
    from forge.plan.environment import add_environment_refusals
    from forge.plan.images import image_refusals
    from forge.plan.memory_refusals import memory_refusals

    not_found = facts.source == "unknown" and bool(facts.problem) and _not_a_download(config.model.name)
    if not_found:
        _refuse(
            p,
            "model",
            "model.name",
            f"model not found: {facts.problem}",
            f"check the name or path, or use a hub id or a model here: {try_names(config.model.name)}",
        )
    add_environment_refusals(p, config, facts, root, not_found)
    _backend(p, config, hw, data)
    _template(p, config, facts)
    _tokenizer_fit(p, config, data)
    _samples(p, config, data)
    _truncation(p, config, data)
    _lora_targets(p, config, facts)
    image_refusals(p, config, facts, data)
    memory_refusals(p, config, facts, hw)
    _warmup(p)
    from forge.plan.eval_budget import eval_without_val

    if asked := eval_without_val(config):
        _warn(p, "eval", "training.eval_steps", *asked)


def _warmup(p: Plan) -> None:
    setting = p.settings.get("training.warmup_steps")
    warm = setting.value if setting is not None else None
    if isinstance(warm, int) and p.total_steps and warm >= p.total_steps:
        _warn(
            p,
            "warmup",
            "training.warmup_steps",
            f"training.warmup_steps is {warm} and the run has {p.total_steps} steps: the learning rate "
            "never reaches training.learning_rate",
            f"set training.warmup_steps below {p.total_steps} (e.g. {p.total_steps // 10})",
        )


def _backend(p: Plan, config: ForgeConfig, hw: HardwareInfo, data: DataStats) -> None:
    """What select_backend refuses at run time, in its words: Unsloth asked for where it cannot
    run, and FP8 where the backend or the GPU has no FP8 path."""
    from forge.plan.backend_choice import UNSLOTH_FIX, choose, packing_off_reason
    from forge.plan.fp8 import fp8_refusals

    _, refusal = choose(config.training.backend, hw.unsloth_reason)
    if refusal:
        return _refuse(p, "backend", "training.backend", refusal, UNSLOTH_FIX)
    off = (
        packing_off_reason(p.backend, hw.has_gpu, images=data.images > 0)
        if p.settings["training.packing"].value
        else None
    )
    if off:  # said before the run, not only in its log
        _warn(p, "packing", "training.packing", f"training.packing is true, but {off}", "set training.packing to false")
    for key, err in fp8_refusals(config, p.backend, hw):
        _refuse(p, "fp8", key, err.message, err.fix or "")


def _not_a_download(name: str) -> bool:
    """A folder path or a built-in: training cannot fetch it from anywhere if it is not here."""
    name = name.strip()
    return name.startswith(("builtin:", ".", "/", "~")) or "\\" in name or name.count("/") > 1


def _template(p: Plan, config: ForgeConfig, facts: ModelFacts) -> None:
    from forge.models.template_choice import marker_refusal, resolve_template
    from forge.models.templates import canonical_name

    key, setting = "dataset.chat_template", config.dataset.chat_template
    try:
        canonical_name(setting)
    except ForgeError as e:
        return _refuse(p, "template", key, e.message, e.fix or "")
    if facts.source != "files":
        why = "decided from the model's tokenizer once it is on disk (its files are not here yet)"
        p.settings[key] = Setting(key, setting, "plan" if setting == "auto" else "explicit", why)
        return None
    try:
        template, why = resolve_template(setting, facts)
    except ForgeError as e:
        return _refuse(p, "template", key, e.message, e.fix or "")
    name = template.name if setting.strip().lower() == "auto" else setting
    p.settings[key] = Setting(key, name, "plan" if setting.strip().lower() == "auto" else "explicit", why)
    refusal = marker_refusal(template, facts, config.model.name)
    if refusal:
        _refuse(p, "template", key, *refusal)
    return None


# Real tokenizers make 1 to about 6 characters a token of natural text or code (CJK near 1, English
# near 4); a tokenizer that makes far longer tokens, or mostly its unknown token, is not the one this
# text was meant for: transformers picks the tokenizer class from config.json's model_type, and a
# class that does not match tokenizer.json can turn whole words into nothing. Training would run on it.
MAX_CHARS_PER_TOKEN = 16.0
MAX_UNK_FRACTION = 0.1


def _tokenizer_fit(p: Plan, config: ForgeConfig, data: DataStats) -> None:
    per_token = data.chars_per_token
    if per_token is None:
        return
    where = f"{config.dataset.path} (the messages' text, {data.text_chars:,} characters)"
    fix = (
        "check that the model folder's tokenizer files (tokenizer.json, tokenizer_config.json) belong to "
        "the model its config.json names (model_type); or use the model's original tokenizer"
    )
    if per_token > MAX_CHARS_PER_TOKEN:
        per = f"{per_token:.0f} characters a token" if data.text_tokens else "no tokens"
        return _refuse(
            p,
            "tokenizer",
            "model.name",
            f"the tokenizer of {config.model.name} makes {data.text_tokens:,} tokens of {where}: {per}, where a "
            f"tokenizer that fits the text makes 1 to 6; training would see almost none of the data",
            fix,
        )
    if data.unk_fraction > MAX_UNK_FRACTION:
        return _refuse(
            p,
            "tokenizer",
            "model.name",
            f"the tokenizer of {config.model.name} reads {data.unk_fraction:.0%} of {where} as its "
            f"unknown token: the model would train on {data.unk_tokens:,} unknown tokens",
            fix,
        )


def _samples(p: Plan, config: ForgeConfig, data: DataStats) -> None:
    need, why = min_samples(config)
    key = "dataset.min_samples"
    p.settings[key] = Setting(key, need, "plan" if config.dataset.min_samples == "auto" else "explicit", why)
    n = data.train_examples
    if n and n < need:
        _refuse(
            p,
            "samples",
            key,
            f"{config.dataset.path}: {n} usable training conversation(s); at least {need} are needed ({why})",
            f"collect at least {need} conversations ({RECOMMENDED_SAMPLES}+ recommended), "
            f"or set dataset.min_samples to {n} to train on these",
        )
    elif n and n < RECOMMENDED_SAMPLES and need >= MIN_SAMPLES:
        _warn(
            p,
            "samples",
            key,
            f"{n} samples; {RECOMMENDED_SAMPLES}+ recommended",
            "more data usually helps; fine-tuning on a few hundred examples mostly changes style",
        )


def _truncation(p: Plan, config: ForgeConfig, data: DataStats) -> None:
    measured = data.measured
    if not measured:
        return
    seq = config.model.max_seq_length
    away = data.truncated_away(seq)
    dropped = away + data.no_assistant
    allowed = config.training.max_dropped_fraction
    if not dropped or (dropped < measured and dropped / measured <= allowed):
        return _truncation_warning(p, config, data, dropped)
    share = "all" if dropped == measured else f"{dropped}/{measured}"
    if away >= data.no_assistant:
        # the dropped examples' own first trained tokens: a minimum over every example would name
        # a length under max_seq_length, which cannot be the fix
        starts = sorted(n for n in data.prompt_lengths if n is not None and n >= seq)
        first, last = starts[0], starts[-1]
        where = f"at token {first}" if first == last else f"between tokens {first} and {last}"
        _refuse(
            p,
            "truncation",
            "model.max_seq_length",
            f"{share} examples would keep no trained (assistant) token after templating and truncation: their "
            f"first assistant turn starts at or after token {seq} (model.max_seq_length), {where} "
            f"({data.measured_with})",
            f"raise model.max_seq_length above {last} (above {first} keeps the first of them), or shorten the "
            f"prompts (system text) of these examples; or raise training.max_dropped_fraction (now {allowed})"
            if first != last
            else f"raise model.max_seq_length above {first}, or shorten the prompts (system text) of these "
            f"examples; or raise training.max_dropped_fraction (now {allowed})",
        )
    else:
        _refuse(
            p,
            "template",
            "dataset.chat_template",
            f"{share} examples would keep no trained (assistant) token: the chat template renders no assistant turn",
            "set dataset.chat_template to auto or to the model's family (gemma-3, llama-3, chatml, mistral, phi-3)",
        )


def _truncation_warning(p: Plan, config: ForgeConfig, data: DataStats, dropped: int) -> None:
    """What training will cut and drop, said before it does (never silent; never a refusal)."""
    seq = config.model.max_seq_length
    cut = data.truncated(seq)
    if not cut and not dropped:
        return
    parts = []
    if cut:
        parts.append(
            f"{cut} of {data.train_examples} training example(s) are longer than {seq} tokens and will be truncated"
        )
    if dropped:
        parts.append(
            f"{dropped} of {data.measured} measured example(s) keep no trained (assistant) token after templating "
            "and truncation: training drops them"
        )
    _warn(
        p,
        "truncation",
        "model.max_seq_length",
        "; ".join(parts) + f" ({data.measured_with})",
        f"raise model.max_seq_length (the p99 is {data.quantile(0.99)} tokens; `forge plan` shows it), "
        "or shorten these examples",
    )


def _lora_targets(p: Plan, config: ForgeConfig, facts: ModelFacts) -> None:
    """The same choice training makes (forge.train.lora_targets.choose), on the modules the
    checkpoint's headers list with their kinds: a name that is not a linear layer of this model
    (the LM head, an embedding, a norm, a block, a name it lacks) or a config that selects no
    module is refused with training's words, before any weights load."""
    from forge.train.lora_targets import choose

    modules = weight_modules(facts.folder) if facts.source == "files" else None
    if modules is None:
        return
    try:
        chosen = choose(modules, config.lora)
    except ForgeError as e:
        _refuse(p, "lora_targets", "lora.target_modules", e.message, e.fix or "")
        return
    if chosen.skipped:
        _warn(p, "lora_targets", "lora.target_modules", f"not in this model, skipped: {', '.join(chosen.skipped)}", "")
