"""What a vision-language model's processor does with an image in the text, read from its files.

The chat template writes one placeholder for each image part (Gemma 3: `<start_of_image>`); the
processor replaces it with the image's tokens (Gemma 3: two newlines, `<start_of_image>`,
`image_seq_length` x `<image_soft_token>`, `<end_of_image>`, two newlines: 256 soft tokens a
picture for gemma-3-4b-it). forge expands the placeholders the same way before tokenizing, so the
trained spans it finds on the rendered text stay exact, and check, plan, train and inspect count
the same tokens.

`from_folder` reads processor_config.json (else config.json's mm_tokens_per_image) and the
tokenizer's image tokens without torch; `from_processor` asks a loaded processor (training). A test
holds the two to the same answer. Processors whose expansion forge does not know (not Gemma 3's)
answer None with the reason, and the resolver refuses image data for them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ImageFacts:
    tokens_per_image: int  # the image's soft tokens (what the vision tower fills)
    placeholder: str  # what the chat template writes for an image part
    expansion: str  # what the processor puts in the placeholder's place
    image_token: str  # the soft token itself
    source: str = field(compare=False)  # where tokens_per_image was read

    def expand(self, text: str, spans: list[tuple[int, int]]) -> tuple[str, list[tuple[int, int]]]:
        """The text as the processor will see it, and the trained character spans moved with it."""
        if not self.placeholder or self.placeholder not in text:
            return text, spans
        pieces = text.split(self.placeholder)
        grow = len(self.expansion) - len(self.placeholder)
        starts, at = [], 0
        for piece in pieces[:-1]:
            at += len(piece)
            starts.append(at)  # a placeholder's position in the original text
            at += len(self.placeholder)

        def moved(pos: int) -> int:
            return pos + grow * sum(1 for s in starts if s < pos)

        return self.expansion.join(pieces), [(moved(a), moved(b)) for a, b in spans]

    def count(self, text: str) -> int:
        return text.count(self.placeholder) if self.placeholder else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "tokens_per_image": self.tokens_per_image,
            "placeholder": self.placeholder,
            "image_token": self.image_token,
            "source": self.source,
        }


def gemma3_expansion(boi: str, image: str, eoi: str, n: int) -> str:
    """Gemma3Processor's full_image_sequence (transformers' processing_gemma3), for a folder read
    without loading the processor; from_processor takes the loaded processor's own string."""
    return f"\n\n{boi}{image * n}{eoi}\n\n"


def _json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def from_folder(folder: str | Path | None) -> tuple[ImageFacts | None, str | None]:
    """(facts, None) for a model folder whose processor forge can expand; (None, why) otherwise."""
    if folder is None:
        return None, "the model is not on disk: its processor cannot be read"
    folder = Path(folder)
    proc = _json(folder / "processor_config.json")
    config = _json(folder / "config.json")
    kind = proc.get("processor_class") or _json(folder / "preprocessor_config.json").get("processor_class")
    if not proc and not (folder / "preprocessor_config.json").is_file():
        return None, "the model has no processor (no processor_config.json or preprocessor_config.json)"
    if kind not in (None, "Gemma3Processor") or config.get("model_type") not in ("gemma3", None):
        return None, f"images are supported for Gemma 3's processor; this model's is {kind or config.get('model_type')}"
    n, source = proc.get("image_seq_length"), "processor_config.json image_seq_length"
    if not isinstance(n, int):
        n, source = config.get("mm_tokens_per_image"), "config.json mm_tokens_per_image"
    if not isinstance(n, int) or n <= 0:
        return None, "neither processor_config.json nor config.json says how many tokens an image takes"
    tc = _json(folder / "tokenizer_config.json")
    extra = tc.get("extra_special_tokens") if isinstance(tc.get("extra_special_tokens"), dict) else {}
    tokens = {k: tc.get(k) or extra.get(k) for k in ("boi_token", "eoi_token", "image_token")}
    if not all(isinstance(v, str) for v in tokens.values()):
        return None, "the tokenizer names no boi/eoi/image tokens (tokenizer_config.json)"
    boi, eoi, image = tokens["boi_token"], tokens["eoi_token"], tokens["image_token"]
    return ImageFacts(n, boi, gemma3_expansion(boi, image, eoi, n), image, source), None


def from_processor(processor: Any) -> ImageFacts | None:
    """The same facts from a loaded processor (None for a tokenizer or an unknown processor)."""
    full = getattr(processor, "full_image_sequence", None)
    boi = getattr(processor, "boi_token", None)
    n = getattr(processor, "image_seq_length", None)
    tok = getattr(processor, "tokenizer", None)
    image = getattr(tok, "image_token", None)
    if not (isinstance(full, str) and isinstance(boi, str) and isinstance(n, int) and isinstance(image, str)):
        return None
    return ImageFacts(n, boi, full, image, "processor image_seq_length")
