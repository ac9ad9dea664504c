"""The `shapes` example: pictures of one coloured shape, and questions about its colour or shape
(torch-free; Pillow draws the pictures).

Generated deterministically, so every install writes the same images and the same JSONL. Both
image formats appear, half of the records each: OpenAI-style content parts
(`{"type": "image", "image": PATH}`) and ShareGPT `<image>` placeholders with an `images` list.
Paths are relative to the data file (data/splits/ -> ../images/).
"""

from __future__ import annotations

import io
import random

COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 200, 30),
    "purple": (140, 60, 180),
    "orange": (240, 130, 30),
}
SHAPES = ("circle", "square", "triangle")
SIZE = 64  # pixels: the tiny built-in VLM's image size; bigger models' processors resize it
TRAIN_SIZE, VAL_SIZE = 144, 16
IMAGE_DIR = "data/images"  # inside the project
QUESTIONS = {
    "colour": ("What colour is the shape?", "Which colour do you see?"),
    "shape": ("What shape is this?", "Which shape is shown?"),
    "both": ("Describe the picture in a few words.",),
}


def draw(colour: str, shape: str, rng: random.Random) -> bytes:
    """One PNG: a white background, one shape of `colour`, its size and place varied a little."""
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (SIZE, SIZE), (255, 255, 255))
    d = ImageDraw.Draw(im)
    r = rng.randint(16, 24)
    cx, cy = rng.randint(r + 2, SIZE - r - 3), rng.randint(r + 2, SIZE - r - 3)
    fill = COLOURS[colour]
    if shape == "circle":
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
    elif shape == "square":
        d.rectangle((cx - r, cy - r, cx + r, cy + r), fill=fill)
    else:
        d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fill)
    out = io.BytesIO()
    im.save(out, format="PNG", optimize=False)
    return out.getvalue()


def _answer(kind: str, colour: str, shape: str) -> str:
    if kind == "colour":
        return f"The shape is {colour}."
    if kind == "shape":
        return f"It is a {shape}."
    return f"A {colour} {shape} on a white background."


def _row(k: int, image: str, question: str, answer: str) -> dict:
    if k % 2 == 0:  # OpenAI-style content parts
        parts = [{"type": "image", "image": image}, {"type": "text", "text": question}]
        return {"messages": [{"role": "user", "content": parts}, {"role": "assistant", "content": answer}]}
    return {  # ShareGPT with an <image> placeholder (LLaMA-Factory's convention)
        "conversations": [{"from": "human", "value": f"<image>{question}"}, {"from": "gpt", "value": answer}],
        "images": [image],
    }


def generate(seed: int = 0, train_size: int = TRAIN_SIZE, val_size: int = VAL_SIZE):
    """(train rows, val rows, {relative image path: PNG bytes})."""
    rng = random.Random(seed)
    images: dict[str, bytes] = {}
    rows = []
    for k in range(train_size + val_size):
        colour, shape = rng.choice(sorted(COLOURS)), rng.choice(SHAPES)
        kind = rng.choice(sorted(QUESTIONS))
        name = f"{IMAGE_DIR}/{k:04d}-{colour}-{shape}.png"
        images[name] = draw(colour, shape, rng)
        question = rng.choice(QUESTIONS[kind])
        rows.append(_row(k, "../images/" + name.rsplit("/", 1)[1], question, _answer(kind, colour, shape)))
    return rows[:train_size], rows[train_size:], images
