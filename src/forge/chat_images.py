"""Where an image sits in a normalised conversation (core: the data wing writes it, the models
wing renders it).

A normalised message keeps its content a string; IMAGE_MARK stands where each image goes and the
message's "images" lists the image references in the same order (forge.data.formats.images).
"""

from __future__ import annotations

IMAGE_MARK = "\ue002"  # a private-use character: never in real text, one character in every count


def images_of(messages: list[dict]) -> list[str]:
    """The conversation's image references, in order."""
    return [ref for m in messages for ref in m.get("images") or ()]


def as_parts(messages: list[dict]) -> list[dict]:
    """Messages for a multimodal chat template: a content holding IMAGE_MARKs becomes a list of
    `{"type": "image"}` and `{"type": "text"}` parts (the template writes its image token for each).
    Messages without images are returned as they are."""
    if not any(IMAGE_MARK in (m.get("content") or "") for m in messages):
        return messages
    out = []
    for m in messages:
        c = m.get("content") or ""
        if IMAGE_MARK not in c:
            out.append(m)
            continue
        parts: list[dict] = []
        for k, piece in enumerate(c.split(IMAGE_MARK)):
            if k:
                parts.append({"type": "image"})
            if piece:
                parts.append({"type": "text", "text": piece})
        out.append({k: v for k, v in m.items() if k != "images"} | {"content": parts})
    return out
