"""Image data, torch-free: both formats read into one form, every bad image named path:line with
its fix, the processor's image facts read from its files, and the placeholders' expansion."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from forge.chat_images import IMAGE_MARK, as_parts, images_of
from forge.data.formats import normalize
from forge.data.validate import FIXES, scan
from forge.models.image_facts import from_folder


def _png(path: Path, size=(8, 8), colour=(255, 0, 0)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def openai(ref: str, question: str = "What colour?") -> dict:
    parts = [{"type": "image", "image": ref}, {"type": "text", "text": question}]
    return {"messages": [{"role": "user", "content": parts}, {"role": "assistant", "content": "Red."}]}


def sharegpt(value: str, images: list[str]) -> dict:
    return {"conversations": [{"from": "human", "value": value}, {"from": "gpt", "value": "Red."}], "images": images}


@pytest.fixture
def project(tmp_path) -> Path:
    (tmp_path / "training-config.json").write_text("{}")
    _png(tmp_path / "data/images/red.png")
    return tmp_path


def test_both_formats_read_into_the_same_messages():
    a = normalize(openai("../images/red.png")).messages
    b = normalize(sharegpt("<image>What colour?", ["../images/red.png"])).messages
    c = normalize(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "../images/red.png"}},
                        {"type": "text", "text": "What colour?"},
                    ],
                },
                {"role": "assistant", "content": "Red."},
            ]
        }
    ).messages
    assert a == b == c
    assert a[0] == {"role": "user", "content": IMAGE_MARK + "What colour?", "images": ["../images/red.png"]}
    assert images_of(a) == ["../images/red.png"]
    parts = as_parts(a)[0]["content"]
    assert parts == [{"type": "image"}, {"type": "text", "text": "What colour?"}]


def test_audio_and_other_parts_stay_refused():
    r = normalize(
        {
            "messages": [
                {"role": "user", "content": [{"type": "input_audio"}, {"type": "text", "text": "hi"}]},
                {"role": "assistant", "content": "x"},
            ]
        }
    )
    assert r.messages is None and r.problems[0][0] == "bad_type" and "'input_audio'" in r.problems[0][1]


def _data_uri(colour=(0, 0, 255)) -> str:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), colour).save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


# (record, kind, words of the message) for each bad image input
BAD = [
    (openai("../images/nope.png"), "image_missing", "no file at data/images/nope.png"),
    (openai("../images/broken.png"), "image_corrupt", "not an image Pillow can read"),
    (openai("/etc/hostname"), "image_outside", "outside the project folder"),
    (openai("https://example.com/cat.png"), "image_url", "an http(s) URL"),
    (sharegpt("<image><image>What?", ["../images/red.png"]), "image_placeholders", "2 <image> placeholder(s)"),
    (sharegpt("What?", ["../images/red.png"]), "image_placeholders", "0 <image> placeholder(s) in the turns but 1"),
    (openai("../images/big.png"), "image_too_large", "pixels, over the limit"),
    (openai("data:image/png;base64,!!!"), "image_corrupt", "base64 does not decode"),
    (
        {
            "conversations": [{"from": "human", "value": "What?"}, {"from": "gpt", "value": "<image>"}],
            "images": ["../images/red.png"],
        },
        "image_placement",
        "turn 2 (assistant) holds an image",
    ),
]


def test_every_bad_image_is_named_path_line_with_its_fix(project, monkeypatch):
    (project / "data/images/broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    _png(project / "data/images/big.png", size=(120, 100))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # the 120x100 picture is over it
    good = [openai("../images/red.png"), sharegpt("<image>What colour?", ["../images/red.png"])]
    good.append(openai(_data_uri()))
    rows = good + [bad for bad, _, _ in BAD]
    path = project / "data/splits/train.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report, convs, _ = scan(path, collect=True, display="data/splits/train.jsonl")
    assert report.valid == 3 and report.images == 3 and report.image_records == 3
    lines = {p.line: p for p in report.problems}
    for k, (_, kind, words) in enumerate(BAD, start=len(good) + 1):
        p = lines[k]
        assert p.kind == kind, (k, p)
        assert words in p.render(report.path) and p.render(report.path).startswith(f"data/splits/train.jsonl:{k}: ")
        assert FIXES[kind] in report.fix_text() and p.message.endswith(f"; fix: {FIXES[kind]}")
    # resolved for training: the absolute file, or the data URI as written
    assert convs[0][0]["images"] == [str((project / "data/images/red.png").resolve())]
    assert convs[2][0]["images"][0].startswith("data:image/png;base64,")


def test_a_json_array_names_the_item(project):
    path = project / "data/splits/val.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([openai("../images/red.png"), openai("../images/gone.png")]))
    report, _, _ = scan(path, display="data/splits/val.json")
    assert report.layout == "array" and report.valid == 1
    assert report.problems[0].render(report.path).startswith("data/splits/val.json:1: item 2: turn 1: image")


def test_same_question_about_another_picture_is_no_duplicate(project):
    _png(project / "data/images/blue.png", colour=(0, 0, 255))
    path = project / "data/splits/train.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(openai("../images/red.png")) + "\n" + json.dumps(openai("../images/blue.png")) + "\n")
    assert scan(path)[0].duplicates == 0


def test_image_facts_read_from_the_processor_files(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gemma3", "mm_tokens_per_image": 256}))
    (tmp_path / "processor_config.json").write_text(
        json.dumps({"processor_class": "Gemma3Processor", "image_seq_length": 256})
    )
    tokens = {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"extra_special_tokens": tokens}))
    facts, why = from_folder(tmp_path)
    assert why is None and facts.tokens_per_image == 256 and facts.source.startswith("processor_config.json")
    assert facts.expansion.count("<image_soft_token>") == 256
    text = "<bos>user\n<start_of_image>What?<eot>model\nRed.<eot>"
    spans = [(text.index("Red."), len(text))]
    expanded, moved = facts.expand(text, spans)
    assert expanded[moved[0][0] : moved[0][1]] == "Red.<eot>"
    # another processor: refused by name, not guessed
    (tmp_path / "processor_config.json").write_text(json.dumps({"processor_class": "LlavaProcessor"}))
    facts, why = from_folder(tmp_path)
    assert facts is None and "LlavaProcessor" in why


class _Tok:
    ids = {"<start_of_image>": 1, "<image_soft_token>": 2, "<end_of_image>": 3}

    def convert_tokens_to_ids(self, token):
        return self.ids[token]


def test_a_truncation_through_an_image_ends_the_example_before_it():
    from forge.models.image_facts import ImageFacts, gemma3_expansion
    from forge.train.image_tokens import ImageIds

    facts = ImageFacts(
        2,
        "<start_of_image>",
        gemma3_expansion("<start_of_image>", "<image_soft_token>", "<end_of_image>", 2),
        "<image_soft_token>",
        "test",
    )
    image_ids = ImageIds(facts, _Tok())
    # [text, image 1, answer (trained), image 2 cut after its first soft token]
    ids = [9, 1, 2, 2, 3, 9, 7, 7, 9, 1, 2]
    labels = [-100] * 6 + [7, 7] + [-100, 1, 2]  # even a label on an image token is dropped
    done = image_ids.finish({"input_ids": ids, "labels": labels, "attention_mask": [1] * len(ids)}, ["a", "b"])
    assert done["input_ids"] == ids[:9] and done["images"] == ["a"]
    assert done["labels"] == [-100] * 6 + [7, 7, -100]
    assert done["token_type_ids"] == [0, 0, 1, 1, 0, 0, 0, 0, 0]
    # nothing trained left once the image is cut away: dropped
    assert image_ids.finish({"input_ids": ids[:3], "labels": [-100, 1, 2], "attention_mask": [1] * 3}, ["a"]) is None


def test_the_vision_tower_costs_memory_for_each_picture_and_more_where_it_trains():
    from forge.models.builtin_vlm import GEMMA3_4B
    from forge.plan.memory import vision_activation_bytes

    tower = GEMMA3_4B[1]  # SigLIP of gemma-3-4b-it: 27 layers, 1152 wide, 896-pixel pictures in 14-pixel patches
    frozen = vision_activation_bytes(tower, 2, trained=False, gradient_checkpointing=True)
    checkpointed = vision_activation_bytes(tower, 2, trained=True, gradient_checkpointing=True)
    full = vision_activation_bytes(tower, 2, trained=True, gradient_checkpointing=False)
    assert 0 < frozen < checkpointed < full
    assert vision_activation_bytes(tower, 4, trained=False, gradient_checkpointing=True) == 2 * frozen
    assert vision_activation_bytes(tower, 0, trained=True, gradient_checkpointing=False) == 0
    assert 3e9 < full / 2 < 8e9  # about 5 GB of saved activations a picture without checkpointing
