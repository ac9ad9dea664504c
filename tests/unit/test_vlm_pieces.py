"""Torch-free pieces of the Gemma 3 VLM path: list content in data, the exported template and its
Ollama twin, the export report's truthfulness, converter errors."""

from __future__ import annotations

import pytest

from forge.data.formats import normalize
from forge.export.gguf import converter_error
from forge.export.modelfile import render_modelfile
from forge.export.template_choice import go_twin, keep_template, renders_alike
from forge.models.builtin_vlm import official_chat_template
from forge.models.templates import TEMPLATES, render
from forge.records.export import ExportReport

SPECIAL = {"bos_token": "<bos>", "eos_token": "<eos>"}


def _conv(user_content):
    return {"messages": [{"role": "user", "content": user_content}, {"role": "assistant", "content": "Fine."}]}


def test_list_text_content_renders_like_a_string():
    as_list = normalize(_conv([{"type": "text", "text": "How are you?"}]))
    as_str = normalize(_conv("How are you?"))
    assert as_list.messages == as_str.messages and not as_list.problems
    official = official_chat_template()
    assert render(official, as_list.messages, True, SPECIAL) == render(official, as_str.messages, True, SPECIAL)
    sharegpt = normalize(
        {
            "conversations": [
                {"from": "human", "value": [{"type": "text", "text": "How are you?"}]},
                {"from": "gpt", "value": "Fine."},
            ]
        }
    )
    assert sharegpt.messages == as_str.messages


@pytest.mark.parametrize(
    "part, problem",
    [
        ({"type": "image"}, "needs 'image': PATH"),  # an image part without its picture
        ({"type": "input_audio"}, "a 'input_audio' part"),
        ({"type": "image_url", "image_url": {}}, "needs 'image_url'"),
    ],
)
def test_media_part_without_a_picture_is_refused(part, problem):
    r = normalize(_conv([part, {"type": "text", "text": "What is this?"}]))
    assert r.messages is None
    kind, msg = r.problems[0]
    assert kind == "bad_type" and "turn 1" in msg and problem in msg


def test_official_gemma3_template_renders_text_like_forge_gemma3_and_images_too():
    official = official_chat_template()
    assert renders_alike(official, TEMPLATES["gemma-3"].jinja, SPECIAL)
    image_msg = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What colour?"}]}]
    assert "<start_of_image>What colour?" in render(official, image_msg, True, SPECIAL)
    # forge's text-only template turns the same list into Python text: the reason to keep the official one
    assert "{'type'" in render(TEMPLATES["gemma-3"].jinja, image_msg, True, SPECIAL)


def test_export_keeps_the_base_models_own_template(tmp_path):
    official = official_chat_template()
    (tmp_path / "chat_template.jinja").write_text(official)
    kept, note = keep_template(TEMPLATES["gemma-3"].jinja, tmp_path, SPECIAL)
    assert kept == official and "own template" in note
    # a base template that renders differently is not swapped in
    kept, note = keep_template(TEMPLATES["chatml"].jinja, tmp_path, SPECIAL)
    assert kept == TEMPLATES["chatml"].jinja and note is None


def test_gemma3_modelfile_has_template_stops_and_projector():
    twin = go_twin(official_chat_template(), SPECIAL)
    assert twin == "gemma-3"
    text = render_modelfile("/x/m-Q8_0.gguf", twin, ["<end_of_turn>", "<eos>"], "/x/mmproj-m-F16.gguf")
    assert text.splitlines()[1:3] == ["FROM ./m-Q8_0.gguf", "FROM ./mmproj-m-F16.gguf"]
    assert 'TEMPLATE """' in text and "<start_of_turn>model" in text and 'PARAMETER stop "<end_of_turn>"' in text
    assert go_twin("{{ messages[0]['content'] }}", SPECIAL) is None


def test_report_lists_only_files_that_exist(tmp_path):
    merged = tmp_path / "merged"
    merged.mkdir()
    report = ExportReport(
        merged={"path": str(merged), "kept": True},
        gguf=[{"type": "Q8_0", "path": str(tmp_path / "gone.gguf")}],
        mmproj={"type": "F16", "path": str(tmp_path / "gone-mmproj.gguf")},
        modelfile=str(tmp_path / "Modelfile"),
    )
    report.keep_only_existing()
    assert report.merged["kept"] and report.gguf == [] and report.mmproj is None and report.modelfile is None
    merged.rmdir()
    report.keep_only_existing()
    assert report.merged["kept"] is False
    data = report.to_dict()
    assert data["schema_version"] == 1 and ExportReport.from_data(data).merged == report.merged
    assert ExportReport.from_data({k: v for k, v in data.items() if k != "schema_version"}).ok is False


def test_converter_errors_name_the_piece_and_the_fix():
    e = converter_error(
        NotImplementedError("BPE pre-tokenizer was not recognized - update get_vocab_base_pre()"),
        "Gemma3ForConditionalGeneration",
        False,
    )
    assert "Gemma3ForConditionalGeneration" in e.message and "pre-tokenizer" in e.message
    assert "tokenizer.model" in e.fix and e.kind == "export_unsupported"
    e = converter_error(
        ValueError("Can not map tensor 'vision_tower.x.weight'"), "Gemma3ForConditionalGeneration", True
    )
    assert "vision_tower.x.weight" in e.message and "--merged" in e.fix


def test_any_converter_exception_becomes_a_forge_error_naming_the_piece():
    e = converter_error(RuntimeError("INTERNAL: unk is not defined."), "Gemma3ForConditionalGeneration", False)
    assert "tokenizer.model" in e.message and "unk is not defined" in e.message and e.kind == "export_unsupported"
