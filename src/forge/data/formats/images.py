"""Images in a conversation: the two formats people already write, read into one form (torch-free).

- OpenAI-style content parts: `{"type": "image", "image": PATH}` or
  `{"type": "image_url", "image_url": {"url": PATH or data URI}}` beside `{"type": "text", ...}`.
- ShareGPT (LLaMA-Factory's convention): `<image>` placeholders in the turns' text and a top-level
  `images` list, one entry per placeholder, in order (also accepted beside `messages`).

Either way a normalised message keeps its content a string, with IMAGE_MARK where each image goes,
and lists its image references (as written) under "images", in order. Only the user's turns may
hold images: the model reads an image, it never writes one. Whether the files exist, open, and
stay inside the project is forge.data.image_files' job (it needs the data file's folder).
"""

from __future__ import annotations

from typing import Any

from forge.chat_images import IMAGE_MARK
from forge.data.formats.normalized import short

PLACEHOLDER = "<image>"
TEXT_TYPES = (None, "text", "input_text", "output_text")


def image_ref(part: dict) -> tuple[str | None, str | None]:
    """(reference, None) of an image part, (None, why) for a malformed one, (None, None) for a
    part that is no image at all."""
    kind = part.get("type")
    if kind == "image" or (kind is None and "image" in part):
        ref = part.get("image", part.get("url", part.get("path")))
        return (ref, None) if isinstance(ref, str) and ref.strip() else (None, "an 'image' part needs 'image': PATH")
    if kind == "image_url" or (kind is None and "image_url" in part):
        url = part.get("image_url")
        ref = url.get("url") if isinstance(url, dict) else url
        if isinstance(ref, str) and ref.strip():
            return ref, None
        return None, "an 'image_url' part needs 'image_url': {'url': PATH or data URI}"
    return None, None


def content_from_parts(parts: list) -> tuple[str | None, list[str], str | None]:
    """A list of content parts -> (text with IMAGE_MARKs, image references, problem). Text parts are
    joined by newlines; an image sits where its part was."""
    pieces: list[str] = []
    images: list[str] = []
    last_text = False
    for p in parts:
        if not isinstance(p, dict):
            return None, [], f"a content part must be an object, got {short(p)}"
        ref, bad = image_ref(p)
        if bad:
            return None, [], bad
        if ref is not None:
            pieces.append(IMAGE_MARK)
            images.append(ref.strip())
            last_text = False
            continue
        kind = p.get("type")
        if kind not in TEXT_TYPES:
            return None, [], f"a {short(kind)} part: forge reads text and image parts only"
        text = p.get("text")
        if not isinstance(text, str):
            continue
        pieces.append(("\n" if last_text else "") + text)
        last_text = True
    if not pieces:
        return None, [], "a list without text or image parts"
    return "".join(pieces), images, None


def placeholders(text: str) -> int:
    return text.count(PLACEHOLDER)


def place_images(out: list[dict], listed: Any) -> tuple[str, str] | None:
    """ShareGPT's `<image>` placeholders -> IMAGE_MARKs with the top-level `images` entries, in order,
    on the messages that hold them; (kind, message) where they do not match."""
    if not isinstance(listed, list) or not all(isinstance(x, str) and x.strip() for x in listed):
        return ("bad_type", f"'images' must be a list of image paths, got {short(listed)}")
    found = sum(placeholders(m["content"]) for m in out)
    if found != len(listed):
        return (
            "image_placeholders",
            f"{found} {PLACEHOLDER} placeholder(s) in the turns but {len(listed)} image(s) in 'images'",
        )
    at = 0
    for m in out:
        n = placeholders(m["content"])
        if n:
            m["content"] = m["content"].replace(PLACEHOLDER, IMAGE_MARK)
            m["images"] = [x.strip() for x in listed[at : at + n]]
            at += n
    return None


def misplaced(out: list[dict]) -> tuple[str, str] | None:
    """An image in a turn that is not the user's (the model never writes an image)."""
    for i, m in enumerate(out):
        if m.get("images") and m["role"] != "user":
            return ("image_placement", f"turn {i + 1} ({m['role']}) holds an image: only user turns may hold images")
    return None
