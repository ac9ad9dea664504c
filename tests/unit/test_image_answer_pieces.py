"""The pieces of export's image-answer check that need no model: when it is skipped (and that a
skip is never a pass nor a failure), and the GGUF vocabulary's added tokens."""

from __future__ import annotations

import json
import sys
import types

import pytest

from forge.check.export_report import NOT_CHECKED, check_state
from forge.export import verify_image_answer as VIA
from forge.export.gguf_vocab import CONTROL, USER_DEFINED, mark_added_tokens
from forge.records.export import ExportReport


def test_a_skipped_check_is_neither_passed_nor_failed():
    skipped = VIA.skipped("llama-cpp-python's mtmd library cannot load (OSError: nope)")
    report = ExportReport(checks=[skipped, {"name": "x", "ok": True, "detail": ""}])
    assert skipped["ok"] is None and skipped["status"] == "skipped"
    assert report.failed_checks == [] and check_state(skipped) == NOT_CHECKED
    report.checks.append({"name": "y", "ok": False, "detail": "broken"})
    assert [c["name"] for c in report.failed_checks] == ["y"]


@pytest.mark.parametrize(
    "error",
    [
        FileNotFoundError("Shared library with base name 'mtmd' not found"),  # built with LLAVA_BUILD=OFF
        OSError("libmtmd.so: cannot open shared object file"),
        AttributeError("undefined symbol: mtmd_helper_eval_chunk_single"),
        ImportError("cannot import name 'mtmd_cpp'"),
    ],
)
def test_skipped_with_the_reason_when_mtmd_cannot_load(monkeypatch, tmp_path, error):
    monkeypatch.setitem(sys.modules, "llama_cpp", types.ModuleType("llama_cpp"))

    def fail():
        raise error

    monkeypatch.setattr(VIA, "load_mtmd", fail)
    c = VIA.image_answer_check(tmp_path / "m.gguf", tmp_path / "mmproj.gguf", "q8_0", None)
    assert c["ok"] is None and c["status"] == "skipped"
    assert type(error).__name__ in c["detail"] and str(error) in c["detail"] and "mtmd" in c["detail"]


def test_skipped_without_llama_cpp_python(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import llama_cpp raises ImportError
    c = VIA.image_answer_check(tmp_path / "m.gguf", tmp_path / "mmproj.gguf", "q8_0", None)
    assert c["ok"] is None and "llama-cpp-python is not installed" in c["detail"]


class _FakeLlama:
    def __init__(self, **kw):
        self.model = object()


def _fake_mtmd(log_line: str):
    def init(path, model, params):
        VIA._logs.append(log_line)  # what clip.cpp logs before mtmd_init_from_file returns NULL
        return None

    return types.SimpleNamespace(mtmd_context_params_default=types.SimpleNamespace, mtmd_init_from_file=init)


@pytest.mark.parametrize(
    "log_line,state",
    [
        ("clip_init: failed to load model: load_hparams: unknown projector type: futurevl\n", None),
        (
            "clip_init: failed to load model 'mmproj.gguf': error: tensor 'mm.input_projection.weight' not found\n",
            False,
        ),
    ],
)
def test_an_unknown_projector_type_is_skipped_any_other_load_error_fails(monkeypatch, tmp_path, log_line, state):
    monkeypatch.setitem(sys.modules, "llama_cpp", types.SimpleNamespace(Llama=_FakeLlama))
    monkeypatch.setattr(VIA, "load_mtmd", lambda: _fake_mtmd(log_line))
    c = VIA.image_answer_check(
        tmp_path / "m.gguf", tmp_path / "mmproj.gguf", "q8_0", types.SimpleNamespace(ids=[1] * 8, answer=[2])
    )
    assert c["ok"] is state, c
    assert ("futurevl" if state is None else "mm.input_projection.weight") in c["detail"]


def _folder(tmp_path, added, config=None):
    (tmp_path / "tokenizer.json").write_text(json.dumps({"added_tokens": added}))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config or {"tokenizer_class": "GemmaTokenizer"}))
    return tmp_path


def test_added_tokens_of_a_transformers_5_folder_are_marked_as_the_converter_would(tmp_path):
    added = [
        {"id": 1, "content": "<start_of_image>", "special": True},
        {"id": 2, "content": "<|tool|>", "special": False},  # looks special: control all the same
        {"id": 3, "content": "\u2581hello", "special": False},
        {"id": 99, "content": "<beyond>", "special": True},  # past the vocabulary: left alone
    ]
    tokens, scores, kinds = [b"a", b"<", b"b", b"c"], [0.0] * 4, [1] * 4
    looks = lambda t: t.startswith("<|") and t.endswith("|>")  # noqa: E731
    assert mark_added_tokens(_folder(tmp_path, added), tokens, scores, kinds, looks) == 3
    assert kinds == [1, CONTROL, CONTROL, USER_DEFINED]
    assert tokens == [b"a", b"<start_of_image>", b"<|tool|>", b" hello"] and scores[1:] == [-1000.0] * 3


def test_a_config_that_lists_its_added_tokens_is_left_to_the_converter(tmp_path):
    config = {"added_tokens_decoder": {"1": {"content": "<start_of_image>", "special": True}}}
    folder = _folder(tmp_path, [{"id": 1, "content": "<start_of_image>", "special": True}], config)
    tokens, scores, kinds = [b"a", b"b"], [0.0, 0.0], [1, 1]
    assert mark_added_tokens(folder, tokens, scores, kinds, lambda t: False) == 0 and kinds == [1, 1]
