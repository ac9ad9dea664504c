"""The Ollama Modelfile's Go template renders every conversation as training rendered it, for every
template choice: forge's named templates and a model's own (the official Gemma 3 one), tool and
system turns included; a template no twin renders like gets no TEMPLATE line, and the report says so.

Ollama is emulated (tests/unit/go_template.py: its collate, then Go's text/template); where a `go`
binary is on PATH, the emulator itself is checked against real text/template.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from go_template import collate, ollama_render

from forge.export.modelfile import GO_TEMPLATES
from forge.export.template_choice import as_trained, go_twin, twin_probes, with_training_roles
from forge.models.builtin_vlm import official_chat_template
from forge.models.templates import TEMPLATES

SPECIAL = {
    "gemma-3": {"bos_token": "<bos>", "eos_token": "<eos>"},
    "llama-3": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "chatml": {"eos_token": "<|im_end|>"},
    "mistral": {"bos_token": "<s>", "eos_token": "</s>"},
    "phi-3": {"eos_token": "<|end|>"},
}
# template choice -> (the template training rendered with, its special tokens, the twin it must get)
CHOICES = {name: (TEMPLATES[name].jinja, SPECIAL[name], name) for name in TEMPLATES}
CHOICES["own:gemma-3-official"] = (official_chat_template(), SPECIAL["gemma-3"], "gemma-3")


def _training_prompt(jinja: str, msgs: list[dict], special: dict[str, str]) -> str | None:
    """What training rendered for `msgs`, as Ollama must prompt it: the generation prompt after a
    user or tool turn, BOS left to llama.cpp; None where training refuses the conversation."""
    try:
        text = as_trained(jinja, msgs, msgs[-1]["role"] != "assistant", special)
    except Exception:
        return None
    bos = special.get("bos_token")
    return text[len(bos) :] if bos and text.startswith(bos) else text


@pytest.mark.parametrize("choice", list(CHOICES))
def test_the_modelfile_renders_every_conversation_as_training_did(choice):
    jinja, special, expected = CHOICES[choice]
    exported, _ = with_training_roles(jinja, special)  # what the merged folder and the GGUF carry
    assert go_twin(exported, special) == expected
    go = GO_TEMPLATES[expected]
    compared = 0
    for msgs in twin_probes():
        want = _training_prompt(jinja, msgs, special)
        if want is None:
            continue
        # the exported Jinja renders as training did (template_choice's own promise) ...
        assert _training_prompt(exported, msgs, special) == want
        got = ollama_render(go, msgs)
        if msgs[-1]["role"] == "assistant":  # Ollama continues a last assistant turn: left open
            closing = want[len(got) :]
            assert want.startswith(got) and closing.rstrip("\n") in TEMPLATES[expected].stop_strings, (choice, msgs)
        else:
            assert got == want, (choice, msgs)
        compared += 1
    assert compared >= 20  # tool turns one and two in a row, system, several user turns


def test_the_probes_hold_what_went_wrong():
    roles = [[m["role"] for m in msgs] for msgs in twin_probes()]
    assert any(r[-2:] == ["tool", "tool"] for r in roles)  # two results in a row: one user turn in training
    assert any(r[-2:] == ["tool", "user"] for r in roles)  # a user turn after a result joins it
    assert any(r[0] == "system" and r.count("user") >= 2 and "tool" in r for r in roles)


def test_tool_results_joined_for_a_template_without_a_tool_role():
    msgs = [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": "call"},
        {"role": "tool", "content": "r1"},
        {"role": "tool", "content": "r2"},
    ]
    got = ollama_render(GO_TEMPLATES["gemma-3"], msgs)
    assert got.endswith("<start_of_turn>user\nr1\n\nr2<end_of_turn>\n<start_of_turn>model\n")
    assert ollama_render(GO_TEMPLATES["mistral"], msgs).endswith("[INST] r1\n\nr2 [/INST]")


def test_a_template_that_renders_text_alike_but_tool_turns_otherwise_gets_no_template():
    # gemma-3's text turns, but a tool role of its own: the gemma-3 twin (tool results as user
    # turns) would prompt tool-calling conversations differently from training
    own = TEMPLATES["gemma-3"].jinja.replace(
        "('model' if m['role'] == 'assistant' else 'user')",
        "('model' if m['role'] == 'assistant' else ('tool' if m['role'] == 'tool' else 'user'))",
    )
    assert own != TEMPLATES["gemma-3"].jinja
    exported, note = with_training_roles(own, SPECIAL["gemma-3"])
    assert note is None  # it has every role: nothing to map
    assert go_twin(exported, SPECIAL["gemma-3"]) is None  # the Modelfile: test_modelfile_without_go_template


def test_the_export_report_says_why_the_modelfile_has_no_template(tmp_path):
    from types import SimpleNamespace

    from forge.export.steps_gguf import modelfile

    report = SimpleNamespace(gguf=[{"path": str(tmp_path / "m-Q8_0.gguf")}], mmproj=None, modelfile=None, notes=[])
    job = SimpleNamespace(
        report=report,
        jinja="{{ messages[0]['content'] }}",
        special={},
        gguf_dir=tmp_path,
        trained=SimpleNamespace(stop_strings=("<|end|>",)),
    )
    modelfile(job)
    assert 'TEMPLATE """' not in (tmp_path / "Modelfile").read_text()
    assert any(n.startswith("Modelfile has no TEMPLATE") and "tool" in n for n in report.notes)


def test_collate_joins_one_roles_consecutive_messages_but_not_tool_results():
    system, msgs = collate(
        [
            {"role": "system", "content": "s"},
            {"role": "user", "content": "a"},
            {"role": "user", "content": "b"},
            {"role": "tool", "content": "t1"},
            {"role": "tool", "content": "t2"},
        ]
    )
    assert system == "s" and [m["content"] for m in msgs] == ["s", "a\n\nb", "t1", "t2"]


_GO_MAIN = """package main

import (
	"encoding/json"
	"os"
	"text/template"
)

func main() {
	var in struct {
		Template string
		Data     map[string]any
	}
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		panic(err)
	}
	t := template.Must(template.New("").Option("missingkey=zero").Parse(in.Template))
	if err := t.Execute(os.Stdout, in.Data); err != nil {
		panic(err)
	}
}
"""


@pytest.fixture(scope="module")
def go_binary(tmp_path_factory) -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.skip("no Go toolchain: the emulator is checked against real text/template where one is installed")
    d = tmp_path_factory.mktemp("gotmpl")
    (d / "main.go").write_text(_GO_MAIN)
    env = {"PATH": str(Path(go).parent), "HOME": str(d), "GOCACHE": str(d / "cache"), "GOPATH": str(d / "gopath")}
    subprocess.run([go, "build", "-o", str(d / "gotmpl"), str(d / "main.go")], check=True, cwd=d, env=env)
    return d / "gotmpl"


@pytest.mark.parametrize("name", list(GO_TEMPLATES))
def test_the_emulator_renders_as_go_does(name, go_binary):
    go = GO_TEMPLATES[name]
    for msgs in twin_probes():
        system, collated = collate(msgs)
        data = {"System": system, "Messages": [{"Role": m["role"], "Content": m["content"]} for m in collated]}
        real = subprocess.run(
            [str(go_binary)],
            input=json.dumps({"Template": go, "Data": data}),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert ollama_render(go, msgs) == real, (name, msgs)
