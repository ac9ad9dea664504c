"""A model's shape: read from its config.json, or (for a model not on disk yet) from a name table.

The shape is what the memory and speed estimates need: the text decoder's dimensions, the
vocabulary, whether the LM head is tied, and the size of a vision tower (counted in the weights
only: forge trains on text, so the tower holds memory but runs no activations).

`from_config` is the way in for every model on disk (forge.models.facts reads config.json);
`shape_for_name` is the fallback for planning a model by name before it is downloaded, and is
never used for a model whose files can be read.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class ModelShape:
    name: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    head_dim: int | None = None
    tied: bool = True
    max_positions: int = 8192
    vision_params: int = 0  # a vision tower and its projector (Gemma 3 4B+), counted in the weights only
    source: str = "table"  # "config.json" when read from the model's files
    family: str = ""  # config.json's (text) model_type, e.g. "llama", "qwen2", "gemma3_text"; "" unknown

    @property
    def gemma3(self) -> bool:
        """Gemma 3's decoder layer (text or the decoder of the vision-language model): sandwich
        norms around attention and MLP, and a GeGLU MLP; the memory estimate counts what they save."""
        if self.family:  # read from config.json: the model's word, not its name
            return self.family in ("gemma3", "gemma3_text")
        return self.name.startswith("gemma-3")

    @property
    def hd(self) -> int:
        return self.head_dim or self.hidden // self.heads

    @property
    def q_dim(self) -> int:
        return self.heads * self.hd

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.hd

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in, out) of each linear layer of one decoder layer, by the usual module names."""
        h, q, kv, i = self.hidden, self.q_dim, self.kv_dim, self.intermediate
        return {
            "q_proj": (h, q),
            "k_proj": (h, kv),
            "v_proj": (h, kv),
            "o_proj": (q, h),
            "gate_proj": (h, i),
            "up_proj": (h, i),
            "down_proj": (i, h),
        }

    @property
    def layer_linear_params(self) -> int:
        return sum(a * b for a, b in self.linear_shapes().values())

    @property
    def embed_params(self) -> int:
        return self.vocab * self.hidden

    @property
    def params(self) -> int:
        """All parameters (norms included, vision tower included)."""
        norms = self.layers * 4 * self.hidden + self.hidden
        head = 0 if self.tied else self.embed_params
        return self.layers * self.layer_linear_params + self.embed_params + head + norms + self.vision_params

    @property
    def matmul_params(self) -> int:
        """Parameters that take part in a matrix product per token: decoder linears + LM head."""
        return self.layers * self.layer_linear_params + self.embed_params

    def lora_params(self, r: int, targets: list[str] | tuple[str, ...]) -> int:
        shapes = self.linear_shapes()
        per_layer = sum(r * (a + b) for name, (a, b) in shapes.items() if name in targets)
        return self.layers * per_layer

    def config_sizes(self) -> dict[str, int]:
        """The decoder's sizes under transformers' config.json keys (what from_config reads back):
        the bench builds its random-init models of a layout from them."""
        return {
            "hidden_size": self.hidden,
            "num_hidden_layers": self.layers,
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.kv_heads,
            "intermediate_size": self.intermediate,
            "head_dim": self.hd,
        }

    def to_dict(self) -> dict:
        d = asdict(self)
        d["params"] = self.params
        return d


class ShapeUnreadable(ValueError):
    """config.json lacks a key the shape needs (the message names it)."""


def _vision_params(v: dict[str, Any], text_hidden: int) -> int:
    """A ViT/SigLIP tower: per layer q/k/v/o and the MLP with biases, two layer norms; patch and
    position embeddings; plus the projector into the text model (Gemma 3: one matrix and a norm)."""
    h = int(v.get("hidden_size", 0))
    if not h:
        return 0
    i = int(v.get("intermediate_size", 4 * h))
    n = int(v.get("num_hidden_layers", 0))
    patch = int(v.get("patch_size", 14))
    image = int(v.get("image_size", 224))
    channels = int(v.get("num_channels", 3))
    per_layer = 4 * (h * h + h) + (h * i + i) + (i * h + h) + 4 * h
    embeddings = channels * patch * patch * h + h + (image // patch) ** 2 * h
    projector = h * text_hidden + h
    return n * per_layer + embeddings + 2 * h + projector


def from_config(config: dict[str, Any], name: str = "") -> ModelShape:
    """The shape from a config.json dict; a vision-language config reads its text_config."""
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else config
    if "hidden_size" not in text and "llm_config" in config:
        text = config["llm_config"]
    try:
        hidden = int(text["hidden_size"])
        layers = int(text["num_hidden_layers"])
        heads = int(text["num_attention_heads"])
    except KeyError as e:
        raise ShapeUnreadable(f"config.json has no {e.args[0]!r}") from None
    kv = int(text.get("num_key_value_heads") or heads)
    inter = int(text.get("intermediate_size") or 4 * hidden)
    vocab = int(text.get("vocab_size") or config.get("vocab_size") or 0)
    if not vocab:
        raise ShapeUnreadable("config.json has no 'vocab_size'")
    tied = config.get("tie_word_embeddings", text.get("tie_word_embeddings", True))
    vision = config.get("vision_config")
    family = str(text.get("model_type") or config.get("model_type") or "")
    return ModelShape(
        name=name,
        hidden=hidden,
        layers=layers,
        heads=heads,
        kv_heads=kv,
        intermediate=inter,
        vocab=vocab,
        head_dim=int(text["head_dim"]) if text.get("head_dim") else None,
        tied=bool(tied),
        max_positions=int(text.get("max_position_embeddings") or 8192),
        vision_params=_vision_params(vision, hidden) if isinstance(vision, dict) else 0,
        source="config.json",
        family=family,
    )


# Published configs, for planning a model by name before it is on disk. Keys are lower-case name
# fragments matched against the name with the organisation stripped and "-it"/"-instruct" ignored.
def _s(name, hidden, layers, heads, kv, inter, vocab, head_dim=None, tied=True, max_pos=131072, vision=0):
    return ModelShape(name, hidden, layers, heads, kv, inter, vocab, head_dim, tied, max_pos, vision)


SIGLIP_GEMMA3 = 416_867_184  # the Gemma 3 SigLIP tower + projector norm (_vision_params, text_hidden 0)
SHAPES: dict[str, ModelShape] = {
    s.name: s
    for s in (
        _s("gemma-3-270m", 640, 18, 4, 1, 2048, 262144, 256, max_pos=32768),
        _s("gemma-3-1b", 1152, 26, 4, 1, 6912, 262144, 256, max_pos=32768),
        _s("gemma-3-4b", 2560, 34, 8, 4, 10240, 262208, 256, vision=SIGLIP_GEMMA3 + 1152 * 2560),
        _s("gemma-3-12b", 3840, 48, 16, 8, 15360, 262208, 256, vision=SIGLIP_GEMMA3 + 1152 * 3840),
        _s("gemma-3-27b", 5376, 62, 32, 16, 21504, 262208, 128, vision=SIGLIP_GEMMA3 + 1152 * 5376),
        _s("llama-3.2-1b", 2048, 16, 32, 8, 8192, 128256, 64),
        _s("llama-3.2-3b", 3072, 28, 24, 8, 8192, 128256, 128),
        _s("llama-3.1-8b", 4096, 32, 32, 8, 14336, 128256, 128, tied=False),
        _s("llama-3-8b", 4096, 32, 32, 8, 14336, 128256, 128, tied=False, max_pos=8192),
        _s("qwen2.5-0.5b", 896, 24, 14, 2, 4864, 151936, 64, max_pos=32768),
        _s("qwen2.5-1.5b", 1536, 28, 12, 2, 8960, 151936, 128, max_pos=32768),
        _s("qwen2.5-3b", 2048, 36, 16, 2, 11008, 151936, 128, max_pos=32768),
        _s("qwen2.5-7b", 3584, 28, 28, 4, 18944, 152064, 128, tied=False, max_pos=32768),
        _s("qwen2.5-14b", 5120, 48, 40, 8, 13824, 152064, 128, tied=False, max_pos=32768),
        _s("mistral-7b", 4096, 32, 32, 8, 14336, 32768, 128, tied=False, max_pos=32768),
        # built-ins (forge.models.loader), used only until their folder is built
        _s("builtin:tiny-llama", 64, 2, 4, 2, 128, 1536, 16, tied=False, max_pos=4096),
        _s("builtin:tiny-gemma3", 64, 2, 4, 2, 128, 1536, 16, max_pos=4096),
    )
}
SHAPES["builtin:gemma-3-270m"] = SHAPES["gemma-3-270m"]


def _normalise(name: str) -> str:
    n = name.lower().strip()
    if n.startswith("builtin:"):
        return n
    n = n.rstrip("/").split("/")[-1]
    n = re.sub(r"^(meta-)?llama-", "llama-", n)
    n = re.sub(r"-(it|instruct|chat|base|bnb-4bit|unsloth-bnb-4bit|pt)\b", "", n)
    return n.replace("qwen-2.5", "qwen2.5")


def shape_for_name(name: str) -> ModelShape | None:
    """The published shape of a model name ('unsloth/gemma-3-4b-it', ...); None when not in the table."""
    n = _normalise(name)
    if n in SHAPES:
        return SHAPES[n]
    # longest key that occurs in the name, so 'llama-3.1-8b' wins over 'llama-3-8b'
    for key in sorted(SHAPES, key=len, reverse=True):
        if not key.startswith("builtin:") and key in n:
            return SHAPES[key]
    return None


def known_names() -> str:
    return ", ".join(k for k in SHAPES if not k.startswith("builtin:"))
