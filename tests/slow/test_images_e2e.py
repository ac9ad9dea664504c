"""Images end to end on the CPU with builtin:tiny-gemma3-vlm: the shapes example (both image formats,
train as JSONL, val as a JSON array) through check, plan, baseline, train, evaluate and export; the
adapter's vision tensors exactly when asked; the inspector's labels equal to the training collator's."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from tests.conftest import copy_trained, forge_here

from forge.init.scaffold import init_project

pytestmark = pytest.mark.slow

SETS = [
    "training.max_steps=2",
    "training.save_steps=2",
    "training.warmup_steps=0",
    "training.per_device_train_batch_size=4",
    "training.gradient_accumulation_steps=1",
    "evaluation.generation_samples=2",
    "evaluation.max_new_tokens=6",
]


def _sets(*extra: str) -> list[str]:
    return [a for s in (*SETS, *extra) for a in ("--set", s)]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    proj, _ = init_project(tmp_path_factory.mktemp("img") / "p", example="shapes")
    # the val split as one JSON array (the other layout), its images still relative to it
    rows = [json.loads(line) for line in proj.val_file.read_text().splitlines()]
    (proj.root / "data/splits/val.json").write_text(json.dumps(rows, indent=1))
    cfg = json.loads(proj.config_file.read_text())
    cfg["dataset"]["val_path"] = "data/splits/val.json"
    proj.config_file.write_text(json.dumps(cfg, indent=2))
    return proj.root


def _adapter_keys(root: Path) -> list[str]:
    from safetensors import safe_open

    with safe_open(str(root / "models/checkpoints/lora/adapter_model.safetensors"), "pt") as f:
        return list(f.keys())


def test_check_and_plan_count_the_image_tokens(shapes):
    r = forge_here("check", str(shapes), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    r = forge_here("plan", str(shapes), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    plan = json.loads(r.stdout)
    packing = plan["settings"]["training.packing"]
    assert packing["value"] is False and "images" in packing["reason"]
    data = plan["data"]
    assert data["images"] == 160 and data["max_images"] == 1 and data["image_where"] == "data/splits/train.jsonl:1"
    # every example holds one picture: its 16 soft tokens (the processor's image_seq_length) are in the
    # lengths, and the first trained token comes after them
    assert data["prompt_tokens_min"] > 16 + 2


@pytest.fixture(scope="module")
def trained(shapes) -> Path:
    r = forge_here("baseline", str(shapes), *_sets())
    assert r.returncode == 0, r.stdout + r.stderr
    r = forge_here("train", str(shapes), *_sets())
    assert r.returncode == 0, r.stdout + r.stderr
    return shapes


def test_train_evaluate_export_with_images(trained, tmp_path):
    keys = _adapter_keys(trained)
    assert keys and not [k for k in keys if "vision" in k or "multi_modal" in k]  # finetune_vision_layers false
    log = (trained / "logs/training.log").read_text()
    assert "images in the data: the model's processor makes their pixels; packing is off" in log
    baseline = json.loads((trained / "metrics/baseline.json").read_text())
    assert math.isfinite(baseline["val_loss"]) and baseline["scores"]["examples_scored"] == 16
    r = forge_here("evaluate", str(trained), *_sets())
    assert r.returncode in (0, 3), r.stdout + r.stderr  # 3: the gate (a tiny random model barely learns)
    evaluation = json.loads((trained / "metrics/evaluation.json").read_text())
    scores = evaluation["fine_tuned_scores"]
    assert math.isfinite(scores["val_loss"]) and scores["samples"][0]["prompt"].startswith("<image>")
    root = copy_trained(trained, tmp_path / "e")
    r = forge_here("export", str(root), "--merged")
    assert r.returncode == 0, r.stdout + r.stderr
    merged = root / "models/checkpoints/merged"
    assert (merged / "processor_config.json").is_file() and (merged / "preprocessor_config.json").is_file()


def test_finetune_vision_layers_puts_adapters_on_the_tower(trained, tmp_path):
    root = copy_trained(trained, tmp_path / "v")
    r = forge_here("train", str(root), "--force", *_sets("training.max_steps=1", "lora.finetune_vision_layers=true"))
    assert r.returncode == 0, r.stdout + r.stderr
    keys = _adapter_keys(root)
    assert [k for k in keys if "vision_tower" in k] and [k for k in keys if "language_model" in k]


@pytest.mark.parametrize("example", [1, 2])  # 1: OpenAI content parts, 2: ShareGPT <image> + images
def test_inspect_labels_are_the_training_collators(shapes, example):
    r = forge_here("inspect", str(shapes), "--example", str(example), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    view = json.loads(r.stdout)
    assert list(view)[:3] == ["ok", "verb", "schema_version"] and view["verb"] == "inspect"
    assert view["images"] == [f"data/images/{example - 1:04d}-" + view["images"][0].split("-", 1)[1]]
    assert view["tokens_per_image"] == 16 and view["image_tokens"] == 18  # <start_of_image>, 16 soft, <end_of_image>
    ids, labels = view["input_ids"], view["labels"]
    image = [k for k, s in enumerate(view["segments"]) if s["kind"] == "image"]
    seg = view["segments"][image[0]]
    assert all(labels[k] == -100 for k in range(seg["start"], seg["start"] + seg["tokens"]))  # never trained
    assert view["trained"] > 0 and view["trained"] + view["untrained"] + view["image_tokens"] == len(ids)

    # the training path: the backend's tokenizer, forge's tokenize step, the dataset and the collator
    import logging

    from forge.config import load_config
    from forge.project import Project
    from forge.train.backends.hf import HFBackend
    from forge.train.backends.vision_inputs import vision_inputs
    from forge.train.prepare import tokenize, validate_data
    from forge.train.settings import RunSettings

    project = Project.at(shapes)
    settings = RunSettings(load_config(project.config_file, SETS), 1)
    log = logging.getLogger("test")
    backend = HFBackend(settings, log, shapes / "outputs")
    model, tokenizer = backend.load()
    data = tokenize(settings, tokenizer, validate_data(project, settings, log), log)
    dataset = backend.prepare_dataset(data.train)
    collator = vision_inputs(backend, model, tokenizer)["data_collator"]
    batch = collator([dataset[example - 1]])
    assert batch["input_ids"][0].tolist() == ids
    assert batch["labels"][0].tolist() == labels
    assert batch["token_type_ids"][0].tolist() == view["token_type_ids"]
    assert tuple(batch["pixel_values"].shape) == (1, 3, 64, 64)
    # and the processor itself, given the template's text with one placeholder and the picture, makes
    # the same ids and token types: forge expands images exactly as Gemma3Processor does
    from forge.models.image_facts import from_processor
    from forge.train.backends.vision_collator import open_image

    processor = backend.processor
    facts = from_processor(processor)
    text = tokenizer.decode(ids, skip_special_tokens=False).replace(facts.expansion, facts.placeholder)
    image = open_image(str(shapes / view["images"][0]))
    out = processor(text=[text], images=[[image]], add_special_tokens=False)
    assert list(out["input_ids"][0]) == ids and list(out["token_type_ids"][0]) == view["token_type_ids"]


def test_web_ui_inspects_the_same_example_with_its_picture(shapes):
    from fastapi.testclient import TestClient

    from forge.plan.hardware import HardwareInfo
    from forge.web.app import create_app

    client = TestClient(create_app([shapes], hardware=HardwareInfo()), base_url="http://127.0.0.1:7860")
    pid = client.get("/api/projects").json()[0]["id"]
    got = client.get(f"/api/projects/{pid}/inspect?split=val&example=1")
    assert got.status_code == 200, got.text
    view = got.json()
    cli = json.loads(forge_here("inspect", str(shapes), "--split", "val", "--json").stdout)
    assert view["labels"] == cli["labels"] and view["where"] == "data/splits/val.json:2: item 1"
    image = client.get(f"/api/projects/{pid}/files/{view['images'][0]}")  # the thumbnail
    assert image.status_code == 200 and image.content[:8] == b"\x89PNG\r\n\x1a\n"
    bad = client.get(f"/api/projects/{pid}/inspect?split=val&example=99").json()
    assert bad["ok"] is False and "there is no example 99" in bad["error"] and bad["fix"] == "use --example 1 to 16"


def test_inspect_a_text_example_shows_where_truncation_cuts(tmp_path):
    proj, _ = init_project(tmp_path / "t")
    rows = [
        {
            "conversations": [
                {"from": "system", "value": "Be brief."},
                {"from": "human", "value": f"q {i}?"},
                {"from": "gpt", "value": f"answer {i}."},
            ]
        }
        for i in range(3)
    ]
    proj.train_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = json.loads(proj.config_file.read_text())
    cfg["model"].update(name="builtin:tiny-llama", load_in_4bit=False, max_seq_length=30)
    proj.config_file.write_text(json.dumps(cfg))
    r = forge_here("inspect", str(proj.root), "--example", "2", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    view = json.loads(r.stdout)
    assert view["cut_at"] == 30 and view["full_tokens"] > 30 and view["image_tokens"] == 0
    assert view["trained"] == sum(1 for x in view["labels"] if x != -100) > 0
    assert [s["kind"] for s in view["segments"]] == ["untrained", "trained"]
    r = forge_here("inspect", str(proj.root), "--example", "9")
    assert r.returncode == 2 and "there is no example 9" in r.stderr
