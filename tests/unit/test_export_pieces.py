"""Torch-free pieces of `forge export`: disk estimate, GGUF type names, Modelfile, pre-tokenizer."""

from __future__ import annotations

import json
import struct
from collections import namedtuple
from pathlib import Path

import pytest

from forge.errors import ForgeError
from forge.export import disk
from forge.export.gguf import _pre_tokenizer_from_json, parse_types
from forge.export.modelfile import GO_TEMPLATES, render_modelfile
from forge.models.templates import TEMPLATES


def _safetensors(path: Path, shapes: dict[str, list[int]]) -> None:
    header = {k: {"dtype": "F32", "shape": s, "data_offsets": [0, 0]} for k, s in shapes.items()}
    header["__metadata__"] = {"format": "pt"}
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)


def test_param_count_reads_headers_only(tmp_path):
    _safetensors(tmp_path / "model-00001.safetensors", {"a": [10, 20], "b": [5]})
    _safetensors(tmp_path / "model-00002.safetensors", {"c": [3, 3, 3]})
    assert disk.safetensors_param_count(tmp_path) == 200 + 5 + 27


def test_estimate_counts_outputs_and_intermediates(tmp_path):
    n = 1_000_000
    need = disk.estimate(
        n, 1000, merged_dir=tmp_path / "m", scratch_dir=tmp_path, gguf_dir=tmp_path / "q", gguf_types=["q8_0", "q4_k_m"]
    )
    by_what = {w: b for w, _, b in need.items}
    assert by_what["merged 16-bit model"] == 2 * n + 1000
    assert by_what["GGUF Q8_0"] == int(n * 34 / 32) + 1000
    assert any("f16 GGUF the k-quants" in w for w in by_what)  # the k-quant source exists at the same time
    only_gguf = disk.estimate(n, 0, merged_dir=None, scratch_dir=tmp_path, gguf_dir=tmp_path, gguf_types=["f16"])
    assert [w for w, _, _ in only_gguf.items] == ["16-bit model for the converter (removed after)", "GGUF F16"]


def test_check_refuses_when_disk_lacks_space(tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    need = disk.estimate(10**9, 0, merged_dir=tmp_path / "m", scratch_dir=tmp_path, gguf_dir=tmp_path, gguf_types=[])
    monkeypatch.setattr(disk.shutil, "disk_usage", lambda p: usage(10**12, 0, 10**12))
    assert disk.check(need)[0]["bytes_needed"] == 2 * 10**9
    monkeypatch.setattr(disk.shutil, "disk_usage", lambda p: usage(10**12, 0, 2 * 10**9))  # no room for the margin
    with pytest.raises(ForgeError) as e:
        disk.check(need)
    assert e.value.kind == "disk_full" and e.value.exit_code == 1
    assert "not enough disk space" in e.value.message and e.value.fix


def test_parse_types():
    assert parse_types("Q8_0, f16,q4_k_m,q8_0") == ["q8_0", "f16", "q4_k_m"]
    assert parse_types(None) == []
    with pytest.raises(ForgeError) as e:
        parse_types("q4_km")
    assert "q4_k_m" in e.value.message and e.value.exit_code == 2


@pytest.mark.parametrize("name", ["gemma-3", "llama-3", "chatml", "mistral", "phi-3"])
def test_modelfile_has_template_and_stops(name):
    t = TEMPLATES[name]
    text = render_modelfile("/x/m-Q8_0.gguf", name, t.stop_strings)
    assert text.splitlines()[1] == "FROM ./m-Q8_0.gguf"
    assert 'TEMPLATE """' in text and text.count('"""') == 2
    for s in t.stop_strings:
        assert f'PARAMETER stop "{s}"' in text
    go = GO_TEMPLATES[name]
    assert go.count("{{") == go.count("}}")
    opens = sum(go.count(k) for k in ("{{ if", "{{- if", "{{ range", "{{- range"))
    assert opens == go.count("{{ end }}") + go.count("{{- end }}")
    for marker in t.special_tokens:  # the turn markers of the family (BOS comes from llama.cpp)
        if marker not in ("<bos>", "<|begin_of_text|>") and name != "phi-3":  # phi-3 builds <|role|>
            assert marker in go


def test_modelfile_without_go_template():
    text = render_modelfile("m.gguf", "tokenizer", ["<|end|>"])
    assert not [line for line in text.splitlines() if line.startswith("TEMPLATE")]
    assert 'PARAMETER stop "<|end|>"' in text and "No TEMPLATE" in text and "ollama create" in text


def test_pre_tokenizer_from_tokenizer_json(tmp_path):
    def write(pre):
        (tmp_path / "tokenizer.json").write_text(json.dumps({"pre_tokenizer": pre}))
        return _pre_tokenizer_from_json(tmp_path)

    assert write({"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}) == "gpt-2"
    assert write({"type": "ByteLevel", "add_prefix_space": True, "use_regex": True}) is None
    assert write({"type": "Metaspace", "replacement": "▁"}) is None
    assert write(None) is None


def test_default_request_follows_the_save_section():
    from forge.config import validate_dict
    from forge.export import default_request

    assert default_request(validate_dict({})) == (True, ["q8_0"])
    cfg = validate_dict({"save": {"gguf_path": "models/quantized", "gguf_quantization": "Q4_K_M,F16"}})
    assert default_request(cfg) == (False, ["q4_k_m", "f16"])
    assert default_request(validate_dict({"save": {"merged_path": "out/merged"}})) == (True, [])
