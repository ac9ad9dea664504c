"""The refusals of image data (torch-free): check and train say the same, before any weights load.

Images need a vision-language model whose processor forge can expand (forge.models.image_facts),
a chat template that writes the processor's image placeholder for an image part (forge's named
text templates print the part as Python text instead), and room in model.max_seq_length for at
least one image's tokens.
"""

from __future__ import annotations

from forge.config import ForgeConfig
from forge.errors import ForgeError
from forge.models.facts import ModelFacts
from forge.plan.settings import Plan, Refusal
from forge.plan.stats import DataStats

VLM_FIX = (
    "use a vision-language model (e.g. unsloth/gemma-3-4b-it, or builtin:tiny-gemma3-vlm for a test) or drop the images"
)


def image_refusals(p: Plan, config: ForgeConfig, facts: ModelFacts, data: DataStats) -> None:
    if not data.images:
        return
    where = f"{data.images} image(s) in the data (first at {data.image_where})"
    if facts.source == "files" and not facts.is_vision:
        p.refusals.append(
            Refusal("images", "model.name", f"{where}, and {config.model.name} is a text-only model", VLM_FIX)
        )
        return
    if facts.source != "files":
        return  # not on disk yet: decided once its processor files are there
    from forge.models.image_facts import from_folder

    images, why = from_folder(facts.folder)
    if images is None:
        p.refusals.append(Refusal("images", "model.name", f"{where}, and {why}", VLM_FIX))
        return
    p.notes.append(
        f"{where}: {images.tokens_per_image} tokens each ({images.source}), counted in the lengths; "
        f"adapters {'on' if config.lora.finetune_vision_layers else 'off'} the vision tower (lora.finetune_vision_layers)"
    )
    if images.tokens_per_image + 8 > config.model.max_seq_length:
        p.refusals.append(
            Refusal(
                "images",
                "model.max_seq_length",
                f"{where}: each image takes {images.tokens_per_image} tokens ({images.source}), more than "
                f"model.max_seq_length {config.model.max_seq_length} leaves room for",
                f"raise model.max_seq_length to at least {images.tokens_per_image * max(1, data.max_images) + 64}",
            )
        )
    written = _placeholders_written(config, facts, images.placeholder)
    if written is not None and written != 1:
        p.refusals.append(
            Refusal(
                "images",
                "dataset.chat_template",
                f"{where}, and the chat template writes {written} image placeholder(s) {images.placeholder!r} for "
                "one image part (a text-only template prints the part as text)",
                "set dataset.chat_template to 'auto' or 'tokenizer' (the model's own, multimodal template)",
            )
        )


def _placeholders_written(config: ForgeConfig, facts: ModelFacts, placeholder: str) -> int | None:
    """How many image placeholders the configured template writes for one image part (None: the
    template is refused elsewhere)."""
    from forge.chat_images import IMAGE_MARK
    from forge.models.template_choice import resolve_template
    from forge.models.templates import Renderer

    try:
        template, _ = resolve_template(config.dataset.chat_template, facts)
        text = Renderer(template.jinja, facts).render(
            [{"role": "user", "content": IMAGE_MARK + "Zq1 what is it?"}, {"role": "assistant", "content": "Zq2"}]
        )
    except ForgeError:
        return None
    except Exception:
        return 0
    return text.count(placeholder)


def images_bytes(facts: ModelFacts, config: ForgeConfig, data: DataStats, batch: int, gc) -> float:
    """The vision tower's share of a micro-batch with images (forge.plan.memory)."""
    if not data.images or not facts.folder:
        return 0.0
    from forge.models.facts import vision_config

    per_example = data.images / max(1, data.train_examples + data.val_examples)
    from forge.plan.memory import vision_activation_bytes

    return vision_activation_bytes(
        vision_config(facts.folder), batch * per_example, config.lora.finetune_vision_layers, gc
    )


def image_speed_share(facts: ModelFacts, config: ForgeConfig, data: DataStats, shape, mean_len: float, gc) -> float:
    """The share of a step's compute the text tokens take, where the pictures go through the vision
    tower too (1.0 without images): tokens per second scale by it. A frozen tower runs forward only
    (2 x its parameters a patch, plus attention over the patches); with its adapters training, the
    backward pass through it triples that."""
    if not data.images or shape is None or not shape.vision_params or not facts.folder:
        return 1.0
    from forge.models.facts import vision_config
    from forge.plan.memory import flops_per_token

    v = vision_config(facts.folder)
    patches = (int(v.get("image_size", 224)) // int(v.get("patch_size", 14))) ** 2
    h, layers = int(v.get("hidden_size", 0) or 0), int(v.get("num_hidden_layers", 0) or 0)
    per_image = 2 * shape.vision_params * patches + 2 * 2 * layers * patches * patches * h
    if config.lora.finetune_vision_layers:
        per_image *= 3
    per_token = per_image * data.images / max(1, data.train_examples + data.val_examples) / max(mean_len, 1.0)
    text = flops_per_token(shape, int(mean_len), config.lora.r, list(config.lora.target_modules), gc)
    return text / (text + per_token)
