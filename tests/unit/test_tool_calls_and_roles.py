"""Tool and system turns through any chat template (a model's own included), tool calls in either
record format, empty system fields and per-turn weights (no torch; fake tokenizers)."""

from __future__ import annotations

import json

import pytest

from conftest import GEMMA3_OFFICIAL_TEMPLATE as GEMMA3_OFFICIAL
from forge.config import validate_dict
from forge.data import load_split
from forge.data.formats import normalize
from forge.data.validate import validate_file
from forge.errors import ForgeError
from forge.models.templates import TEMPLATES, Renderer, adapt_messages, render, role_support
from forge.plan.measure import measure, measure_problem
from forge.plan.stats import DataStats
from forge.train.dataset import IGNORE, tokenize_conversations

# Mistral 7B Instruct v0.1's: raises on a system turn
MISTRAL_V01 = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}"
)
# raises on one conversation whatever its roles: what no mapping can fix
RAISES_ON_BAD = (
    "{% for m in messages %}{% if 'BAD' in m['content'] %}{{ raise_exception('no BAD content please') }}{% endif %}"
    "<{{ m['role'] }}>{{ m['content'] }}<end>\n{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}"
)
GEMMA_SPECIAL = {"bos_token": "<bos>", "eos_token": "<eos>"}
TOOL_CONV = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": '{"name": "get_weather", "arguments": {"city": "Paris"}}'},
    {"role": "tool", "content": '{"temp": 18}'},
    {"role": "assistant", "content": "18 degrees."},
]


class CharTokenizer:
    """One token per character (no offsets: the span-by-span path); takes a string or a list."""

    is_fast = False
    bos_token, eos_token = "<bos>", "<eos>"

    def __init__(self, jinja):
        self.chat_template = jinja

    def __call__(self, text, add_special_tokens=False):
        if isinstance(text, list):
            return {"input_ids": [[ord(c) for c in t] for t in text]}
        return {"input_ids": [ord(c) for c in text]}

    def decode(self, ids, **_):
        return "".join(chr(i) for i in ids)


def trained_text(example) -> str:
    return "".join(chr(i) for i, lab in zip(example["input_ids"], example["labels"], strict=True) if lab != IGNORE)


# --- the model's own template follows the documented role rule ----------------------------------


def test_role_support_is_probed_from_the_template():
    gemma = role_support(GEMMA3_OFFICIAL, tuple(GEMMA_SPECIAL.items()))
    assert not gemma.tool and gemma.system
    assert "tool turns are rendered as user turns" in gemma.mapping()[0]
    mistral = role_support(MISTRAL_V01, (("bos_token", "<s>"), ("eos_token", "</s>")))
    assert not mistral.tool and not mistral.system
    for name in ("chatml", "llama-3", "phi-3"):  # formats with a tool role keep it
        assert role_support(TEMPLATES[name].jinja).tool


def test_official_gemma_template_renders_tool_turns_as_the_gemma_format_does():
    with pytest.raises(Exception, match="roles must alternate"):  # the template on its own
        render(GEMMA3_OFFICIAL, TOOL_CONV, False, GEMMA_SPECIAL)
    own = Renderer(GEMMA3_OFFICIAL, CharTokenizer(GEMMA3_OFFICIAL))
    named = Renderer(TEMPLATES["gemma-3"].jinja, CharTokenizer(GEMMA3_OFFICIAL))
    assert own.render(TOOL_CONV) == named.render(TOOL_CONV)
    assert '<start_of_turn>user\n{"temp": 18}<end_of_turn>\n<start_of_turn>model\n18 degrees.' in own.render(TOOL_CONV)
    full, spans = own.assistant_spans(TOOL_CONV)
    assert [full[a:b] for a, b in spans] == [
        '{"name": "get_weather", "arguments": {"city": "Paris"}}<end_of_turn>',
        "18 degrees.<end_of_turn>",
    ]
    head = TOOL_CONV[:4]
    assert own.render(head, add_generation_prompt=True).endswith('{"temp": 18}<end_of_turn>\n<start_of_turn>model\n')


def test_consecutive_tool_results_and_a_system_turn_are_mapped_for_strict_templates():
    conv = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "call two"},
        {"role": "tool", "content": "r1"},
        {"role": "tool", "content": "r2"},
        {"role": "assistant", "content": "a"},
    ]
    renderer = Renderer(MISTRAL_V01, CharTokenizer(MISTRAL_V01))
    mapped = renderer.adapt(conv)
    assert [m["role"] for m in mapped] == ["user", "assistant", "user", "assistant"]
    assert mapped[0]["content"] == "sys\n\nq" and mapped[2]["content"] == "r1\n\nr2"
    assert adapt_messages(mapped, renderer.roles) is mapped  # idempotent
    assert renderer.render(conv) == "<bos>[INST] sys\n\nq [/INST]call two<eos>[INST] r1\n\nr2 [/INST]a<eos>"
    # a template with the roles gets the conversation unchanged
    chatml = Renderer(TEMPLATES["chatml"].jinja)
    assert chatml.adapt(conv) is conv


def test_training_keeps_every_glaive_tool_conversation_under_the_official_template(external_dir):
    convs, _ = load_split(external_dir / "glaive_toolcall_en_demo.json", display="glaive.json")
    tool_convs = [c for c in convs if any(m["role"] == "tool" for m in c)][:40]
    examples, report = tokenize_conversations(tool_convs, CharTokenizer(GEMMA3_OFFICIAL), 100_000)
    assert report.kept == len(tool_convs) and not report.dropped and not report.reasons
    assert report.roles_mapped == len(tool_convs) and "tool turns are rendered as user turns" in report.summary()
    first = tool_convs[0]
    calls = [m["content"] for m in first if m["role"] == "assistant"]
    assert all(c in trained_text(examples[0]) for c in calls)  # every assistant turn (the call too) trained
    results = [m["content"] for m in first if m["role"] == "tool"]
    assert not any(r.strip() in trained_text(examples[0]) for r in results)  # tool results never trained


def test_a_template_that_still_raises_is_refused_with_the_file_line(tmp_path):
    rows = [
        {"conversations": [{"from": "human", "value": f"q{i}"}, {"from": "gpt", "value": f"a{i}"}]} for i in range(4)
    ]
    rows[2]["conversations"][1]["value"] = "a BAD answer"
    f = tmp_path / "train.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    convs, _ = load_split(f, display="data/splits/train.jsonl")
    examples, report = tokenize_conversations(convs, CharTokenizer(RAISES_ON_BAD), 4096)
    assert report.kept == 3 and report.template_errors == 1 and report.dropped_lines == ["data/splits/train.jsonl:3"]
    assert report.first_error == "data/splits/train.jsonl:3: TemplateError: no BAD content please"
    assert report.to_dict()["template_errors"] == 1
    line = report.drop_line("train")
    assert line.startswith("train split: 1 of 4 examples dropped with no trained token (template_error x1)")
    assert "data/splits/train.jsonl:3: TemplateError: no BAD content please" in line
    report.check(0.5)  # one in four is allowed, and said
    with pytest.raises(ForgeError) as e:
        report.check(0.1)
    assert "data/splits/train.jsonl:3" in e.value.message and e.value.exit_code == 2


# --- measuring (check / plan) names the failure instead of falling back quietly ----------------------


CFG = validate_dict({"model": {"name": "builtin:tiny-gemma3"}, "dataset": {"chat_template": "auto"}})


def test_measure_uses_the_mapped_roles_and_reports_template_errors_with_their_line(tmp_path):
    convs = [TOOL_CONV] * 3
    m = measure(convs, CFG, None, CharTokenizer(GEMMA3_OFFICIAL))
    assert m["measured_with"].startswith("tokenizer") and m["template_errors"] == 0 and m["no_assistant"] == 0
    assert all(p is not None for p in m["prompt_lengths"])

    rows = [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}] * 3
    rows.append({"messages": [{"role": "user", "content": "BAD q"}, {"role": "assistant", "content": "a"}]})
    f = tmp_path / "train.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    convs, _ = load_split(f, display="data/splits/train.jsonl")
    m = measure(convs, CFG, None, CharTokenizer(RAISES_ON_BAD))
    assert m["template_errors"] == 1 and m["no_assistant"] == 1  # training drops it: counted as dropped
    assert m["template_error"] == "data/splits/train.jsonl:4: TemplateError: no BAD content please"
    assert len(m["lengths"]) == 4
    stats = DataStats(4, **m)
    status, detail, fix = measure_problem(stats, CFG)
    assert status == "warn" and "data/splits/train.jsonl:4: TemplateError" in detail and "1 of 4" in detail
    strict = validate_dict({**CFG.model_dump(), "training": {"max_dropped_fraction": 0.1}})
    assert measure_problem(stats, strict)[0] == "fail"
    assert measure_problem(DataStats(4, lengths=[5] * 4, measured=4), CFG) is None


def test_measure_reports_a_tokenizer_that_fails_outright():
    class Broken(CharTokenizer):
        def __call__(self, text, add_special_tokens=False):
            raise RuntimeError("the tokenizer is broken")

    m = measure([TOOL_CONV], CFG, None, Broken(TEMPLATES["chatml"].jinja))
    assert m["measured_with"].startswith("chars/4") and m["measure_error"] == "RuntimeError: the tokenizer is broken"
    status, detail, _ = measure_problem(DataStats(1, **m), CFG)
    assert status == "fail" and "RuntimeError: the tokenizer is broken" in detail


# --- scoring renders as training does ------------------------------------------------------------


def test_scoring_prompts_map_tool_turns_and_name_the_val_line_on_a_template_error(tmp_path):
    from forge.evaluate.score import prompt_texts, score_model

    (text,) = prompt_texts(CharTokenizer(GEMMA3_OFFICIAL), [TOOL_CONV[:4]])
    assert text.endswith('{"temp": 18}<end_of_turn>\n<start_of_turn>model\n')
    with pytest.raises(ForgeError) as e:
        prompt_texts(CharTokenizer(RAISES_ON_BAD), [[{"role": "user", "content": "BAD"}]], ["data/splits/val.jsonl:7"])
    assert e.value.exit_code == 2 and e.value.message.startswith("data/splits/val.jsonl:7: the chat template fails")
    assert "no BAD content please" in e.value.message and e.value.fix

    rows = [{"conversations": [{"from": "human", "value": v}, {"from": "gpt", "value": "a"}]} for v in ("q", "BAD")]
    f = tmp_path / "val.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    convs, _ = load_split(f, display="data/splits/val.jsonl")
    with pytest.raises(ForgeError, match=r"^data/splits/val.jsonl:2: the chat template fails"):
        score_model(
            None, CharTokenizer(RAISES_ON_BAD), convs, max_seq_length=64, generation_samples=2, max_new_tokens=4
        )


def test_export_prompts_fold_the_system_turn_for_a_template_without_one():
    from forge.export.verify import prompt_ids

    conv = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a"},
    ]
    tok = CharTokenizer(MISTRAL_V01)
    (ids,) = prompt_ids(tok, [conv], MISTRAL_V01, n=1)
    assert tok.decode(ids) == "<bos>[INST] sys\n\nq [/INST]"


# --- tool calls: one training target whichever format ---------------------------------------------


SHAREGPT_CALL = {
    "conversations": [
        {"from": "human", "value": "Weather in Paris?"},
        {"from": "function_call", "value": '{"name": "get_weather", "arguments": {"city": "Paris"}}'},
        {"from": "observation", "value": '{"temp": 18}'},
        {"from": "gpt", "value": "18 degrees."},
    ]
}
OPENAI_CALL = {
    "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_8f2Xq",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_8f2Xq", "content": '{"temp": 18}'},
        {"role": "assistant", "content": "18 degrees."},
    ]
}


def test_openai_tool_calls_train_the_same_target_as_sharegpt():
    a, b = normalize(SHAREGPT_CALL), normalize(OPENAI_CALL)
    assert a.messages == b.messages
    assert b.messages[1]["content"] == '{"name": "get_weather", "arguments": {"city": "Paris"}}'
    assert "call_8f2Xq" not in json.dumps(b.messages)


def test_tool_call_variants():
    def content(turn):
        row = {"messages": [{"role": "user", "content": "q"}, turn, {"role": "tool", "content": "r"}]}
        row["messages"].append({"role": "assistant", "content": "done"})
        n = normalize(row)
        return n.messages[1]["content"] if n.messages else n.problems

    two = [
        {"type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}},
        {"type": "function", "function": {"name": "g", "arguments": "not json"}},
    ]
    assert content({"role": "assistant", "content": "", "tool_calls": two}) == (
        '[{"name": "f", "arguments": {"x": 1}}, {"name": "g", "arguments": "not json"}]'
    )
    legacy = {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": '{"x": 1}'}}
    assert content(legacy) == '{"name": "f", "arguments": {"x": 1}}'
    with_text = {"role": "assistant", "content": "Let me look.", "tool_calls": two[:1]}
    assert content(with_text) == 'Let me look.\n{"name": "f", "arguments": {"x": 1}}'
    (kind, msg), *_ = content({"role": "assistant", "content": None, "tool_calls": "f(x=1)"})
    assert kind == "bad_type" and "tool_calls" in msg


def test_the_same_call_in_either_format_is_a_duplicate(tmp_path):
    spaced = json.loads(json.dumps(SHAREGPT_CALL))
    spaced["conversations"][1]["value"] = '{"name":"get_weather","arguments":{"city":"Paris"}}'
    f = tmp_path / "train.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in (SHAREGPT_CALL, OPENAI_CALL, spaced)))
    r = validate_file(f)
    assert r.ok and r.format == "mixed"
    assert r.duplicates == 2 and r.duplicate_lines == [[2, 1], [3, 1]]


# --- empty system fields and weights ------------------------------------------------------------------


@pytest.mark.parametrize("system", ["", "   \n", None])
def test_an_empty_system_field_is_counted_as_dropped(tmp_path, system):
    row = {"system": system, "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}
    f = tmp_path / "train.jsonl"
    f.write_text(json.dumps(row) + "\n")
    r = validate_file(f)
    assert r.ok and r.conversions == {"empty system field -> dropped": 1}
    assert load_split(f)[0][0][0]["role"] == "user"


def test_weight_zero_assistant_turn_is_context_not_trained(tmp_path):
    row = {
        "conversations": [
            {"from": "human", "value": "q1"},
            {"from": "gpt", "value": "bad old answer", "weight": 0},
            {"from": "human", "value": "q2", "weight": 0},
            {"from": "gpt", "value": "good answer", "weight": 1},
        ]
    }
    openai = {
        "messages": [
            {"role": "user", "content": "q1"},
            {"role": "assistant", "content": "bad old answer", "weight": 0},
            {"role": "user", "content": "q2"},
            {"role": "assistant", "content": "good answer"},
        ]
    }
    f = tmp_path / "train.jsonl"
    f.write_text(json.dumps(row) + "\n" + json.dumps(openai) + "\n")
    r = validate_file(f)
    assert r.ok and r.conversions == {"weight 0 -> not trained": 2} and r.duplicates == 1
    convs, _ = load_split(f)
    assert convs[0][1] == {"role": "assistant", "content": "bad old answer", "weight": 0}
    for name in ("chatml", "gemma-3"):
        examples, report = tokenize_conversations(convs, CharTokenizer(TEMPLATES[name].jinja), 4096)
        assert report.kept == 2
        for ex in examples:
            text = trained_text(ex)
            assert "good answer" in text and "bad old answer" not in text
            assert "bad old answer" in "".join(chr(i) for i in ex["input_ids"])  # still the model's context


def test_bad_weights_are_refused(tmp_path):
    def problems(turns):
        return normalize({"conversations": turns}).problems

    q = {"from": "human", "value": "q"}
    (kind, msg), *_ = problems([q, {"from": "gpt", "value": "a", "weight": 0}])
    assert kind == "no_assistant" and "weight 0" in msg
    (kind, msg), *_ = problems([q, {"from": "gpt", "value": "a", "weight": 0.5}])
    assert kind == "bad_type" and "'weight' must be 0 or 1" in msg
    (kind, msg), *_ = problems([{**q, "weight": 1}, {"from": "gpt", "value": "a"}])
    assert kind == "bad_type" and "only assistant turns are trained" in msg
