"""Chat templates: exact renders per family, system/tool handling, derived markers and spans (no torch)."""

from types import SimpleNamespace

import pytest

from forge.errors import ForgeError
from forge.models.templates import (
    TEMPLATES,
    Renderer,
    apply_chat_template,
    canonical_name,
    render,
    response_markers,
    template_for,
)

TWO = [{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Hello!"}]
MULTI = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": '{"name": "get_weather", "arguments": {"city": "Paris"}}'},
    {"role": "tool", "content": '{"temp": 18}'},
    {"role": "assistant", "content": "18 degrees."},
    {"role": "user", "content": "Thanks"},
    {"role": "assistant", "content": "You are welcome."},
]
SPECIAL = {
    "gemma-3": {"bos_token": "<bos>", "eos_token": "<eos>"},
    "llama-3": {"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>"},
    "chatml": {"eos_token": "<|endoftext|>"},
    "mistral": {"bos_token": "<s>", "eos_token": "</s>"},
    "phi-3": {"eos_token": "<|endoftext|>"},
}


def tok(name, **extra):
    return SimpleNamespace(**SPECIAL[name], **extra)


def r(name, messages, gen=False):
    return render(TEMPLATES[name].jinja, messages, gen, SPECIAL[name])


def test_gemma3_two_turn_and_generation_prompt():
    assert r("gemma-3", TWO) == (
        "<bos><start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n"
    )
    assert r("gemma-3", TWO[:1], gen=True) == "<bos><start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n"


def test_gemma3_multi_turn_system_prepended_and_tool_as_user():
    text = r("gemma-3", MULTI)
    assert "system" not in text  # gemma has no system role
    assert text.startswith("<bos><start_of_turn>user\nBe brief.\n\nWeather in Paris?<end_of_turn>\n")
    assert '<start_of_turn>user\n{"temp": 18}<end_of_turn>\n<start_of_turn>model\n18 degrees.<end_of_turn>\n' in text
    assert text.count("<start_of_turn>model\n") == 3
    assert text.count("<start_of_turn>user\n") == 3


def test_llama3_two_turn_and_multi_turn():
    assert r("llama-3", TWO) == (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
    )
    text = r("llama-3", MULTI)
    assert text.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>")
    assert '<|start_header_id|>ipython<|end_header_id|>\n\n{"temp": 18}<|eot_id|>' in text  # llama 3.1 tool role
    assert text.endswith("<|start_header_id|>assistant<|end_header_id|>\n\nYou are welcome.<|eot_id|>")


def test_chatml_two_turn_and_tool_response():
    assert r("chatml", TWO) == "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
    text = r("chatml", MULTI)
    assert text.startswith("<|im_start|>system\nBe brief.<|im_end|>\n")
    assert '<|im_start|>user\n<tool_response>\n{"temp": 18}\n</tool_response><|im_end|>\n' in text
    assert r("chatml", TWO[:1], gen=True).endswith("<|im_start|>assistant\n")


def test_mistral_two_turn_and_system_in_first_user_turn():
    assert r("mistral", TWO) == "<s>[INST] Hi there [/INST] Hello!</s>"
    text = r("mistral", MULTI)
    assert text.startswith("<s>[INST] Be brief.\n\nWeather in Paris? [/INST] {")
    assert text.endswith("[INST] Thanks [/INST] You are welcome.</s>")
    assert '[INST] {"temp": 18} [/INST] 18 degrees.</s>' in text


def test_phi3_two_turn():
    assert r("phi-3", TWO) == "<|user|>\nHi there<|end|>\n<|assistant|>\nHello!<|end|>\n"
    assert "<|system|>\nBe brief.<|end|>\n" in r("phi-3", MULTI)


@pytest.mark.parametrize(
    "name,markers",
    [
        ("gemma-3", ("<start_of_turn>user\n", "<start_of_turn>model\n")),
        (
            "llama-3",
            ("<|start_header_id|>user<|end_header_id|>\n\n", "<|start_header_id|>assistant<|end_header_id|>\n\n"),
        ),
        ("chatml", ("<|im_start|>user\n", "<|im_start|>assistant\n")),
        ("mistral", ("[INST] ", "[/INST]")),
        ("phi-3", ("<|user|>\n", "<|assistant|>\n")),
    ],
)
def test_response_markers_are_derived_per_template(name, markers):
    assert response_markers(template_for(name), tok(name)) == markers


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_assistant_spans_cover_every_assistant_turn_with_its_end_of_turn(name):
    renderer = Renderer(TEMPLATES[name].jinja, tok(name))
    full, spans = renderer.assistant_spans(MULTI)
    eot = {"gemma-3": "<end_of_turn>", "llama-3": "<|eot_id|>", "chatml": "<|im_end|>", "mistral": "</s>"}.get(
        name, "<|end|>"
    )
    assert renderer.end_of_turn == eot
    want = [m["content"] + eot for m in MULTI if m["role"] == "assistant"]
    assert [full[a:b] for a, b in spans] == want


def test_spans_fall_back_to_search_when_template_is_not_prefix_consistent():
    # the generation prompt differs from how assistant turns are rendered: prefixes disagree
    jinja = (
        "{% for m in messages %}{{ m['role'] | upper }}: {{ m['content'] }}<END>\n{% endfor %}"
        "{% if add_generation_prompt %}Assistant says: {% endif %}"
    )
    full, spans = Renderer(jinja).assistant_spans(TWO + [{"role": "user", "content": "x"}] + TWO[1:])
    assert [full[a:b] for a, b in spans] == ["Hello!<END>", "Hello!<END>"]
    assert spans[0][0] < spans[1][0]


def test_template_renders_no_assistant_turn_gives_no_spans():
    jinja = "{% for m in messages %}{% if m['role'] == 'user' %}U: {{ m['content'] }}\n{% endif %}{% endfor %}"
    assert Renderer(jinja).assistant_spans(TWO)[1] == []


def test_aliases_and_unknown_names():
    assert canonical_name("gemma3") == canonical_name("Gemma") == "gemma-3"
    assert canonical_name("llama-3.1") == canonical_name("llama3") == "llama-3"
    assert canonical_name("qwen-2.5") == canonical_name("qwen2.5") == canonical_name("qwen") == "chatml"
    with pytest.raises(ForgeError) as e:
        template_for("gemma-33")
    assert "gemma-3" in e.value.message and e.value.exit_code == 2


def test_tokenizer_template_keeps_the_tokenizers_own_and_derives_stops():
    t = template_for("tokenizer", SimpleNamespace(chat_template=TEMPLATES["chatml"].jinja, eos_token="<|endoftext|>"))
    assert t.jinja == TEMPLATES["chatml"].jinja
    assert t.stop_strings == ("<|im_end|>", "<|endoftext|>")
    with pytest.raises(ForgeError, match="no chat template"):
        template_for("tokenizer", SimpleNamespace(chat_template=None, eos_token="</s>"))


class FakeTokenizer:
    def __init__(self, vocab, eos, pad=None):
        self.vocab, self.eos_token, self.pad_token, self.chat_template = vocab, eos, pad, None

    def get_vocab(self):
        return self.vocab


def test_apply_chat_template_sets_template_and_maps_eos_to_end_of_turn():
    t = FakeTokenizer({"<bos>": 2, "<eos>": 1, "<end_of_turn>": 106, "<pad>": 0}, "<eos>", "<pad>")
    ids = apply_chat_template(t, template_for("gemma-3"))
    assert t.chat_template == TEMPLATES["gemma-3"].jinja
    assert t.eos_token == "<end_of_turn>" and t.pad_token == "<pad>"
    assert ids == [106, 1]
    # the end-of-turn text is not one token in this vocabulary: eos stays, no ids invented
    t = FakeTokenizer({"</s>": 2}, "</s>")
    assert apply_chat_template(t, template_for("chatml")) == [2]
    assert t.eos_token == "</s>"


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_one_render_marked_spans_agree_with_prefix_spans(name):
    renderer = Renderer(TEMPLATES[name].jinja, tok(name))
    padded = [{**m, "content": f"  {m['content']}\n"} if m["role"] == "assistant" else m for m in MULTI]
    for messages in (TWO, MULTI, padded):
        assert renderer.marked_spans(messages) == renderer.prefix_spans(messages)
        assert renderer.marked_spans(messages) is not None


def test_marked_spans_decline_templates_that_rewrite_content():
    # keeps only the text after a reasoning block, as some templates do: the prefix method decides
    jinja = (
        "{% for m in messages %}<{{ m['role'] }}>{{ m['content'].split('</think>')[-1] }}<end>\n{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}"
    )
    renderer = Renderer(jinja)
    msgs = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "<think>hmm</think>A"}]
    assert renderer.marked_spans(msgs) is None
    full, spans = renderer.assistant_spans(msgs)
    assert [full[a:b] for a, b in spans] == ["A<end>"]


def test_generation_tags_render_as_plain_text():
    jinja = "{% for m in messages %}{% if m['role'] == 'assistant' %}{% generation %}{{ m['content'] }}!{% endgeneration %}{% else %}{{ m['content'] }}|{% endif %}{% endfor %}"
    assert render(jinja, TWO) == "Hi there|Hello!!"


def test_response_markers_refuse_a_template_that_hides_turns():
    with pytest.raises(ForgeError, match="response markers") as e:
        response_markers("{% for m in messages %}{{ m['content'] }}\n{% endfor %}")
    assert e.value.kind == "template_mismatch"
