"""Masking and the drop report with a character-level fake tokenizer (no torch, no offsets path)."""

import pytest

from forge.errors import ForgeError
from forge.models.templates import TEMPLATES
from forge.train.dataset import IGNORE, DropReport, render_masked_example, tokenize_conversations


class CharTokenizer:
    """One token per character; no offset mapping, so the span-by-span path is used."""

    is_fast = False
    bos_token, eos_token = "^", "$"

    def __init__(self, jinja):
        self.chat_template = jinja

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [ord(c) for c in text]}

    def decode(self, ids, **_):
        return "".join(chr(i) for i in ids)


def conv(*turns):
    roles = ["user", "assistant"] * len(turns)
    return [{"role": r, "content": c} for r, c in zip(roles[: len(turns)], turns, strict=True)]


def trained_text(example):
    return "".join(chr(i) for i, lab in zip(example["input_ids"], example["labels"], strict=True) if lab != IGNORE)


def test_labels_cover_every_assistant_turn_only():
    tok = CharTokenizer(TEMPLATES["chatml"].jinja)
    examples, report = tokenize_conversations([conv("q1", "a1", "q2", "a2")], tok, 4096)
    assert trained_text(examples[0]) == "a1<|im_end|>a2<|im_end|>"
    assert report.kept == 1 and report.trained_tokens == len("a1<|im_end|>a2<|im_end|>")
    assert report.total_tokens == len(examples[0]["input_ids"]) == len(examples[0]["attention_mask"])
    shown = render_masked_example(examples[0], tok)
    assert "«a1<|im_end|>»" in shown and "«a2<|im_end|>»" in shown and shown.startswith("<|im_start|>user\nq1")


def test_truncation_counted_and_example_with_answer_cut_off_dropped():
    tok = CharTokenizer(TEMPLATES["llama-3"].jinja)
    long_prompt = conv("x" * 200, "short answer")
    fits = conv("hi", "hello " * 40)
    examples, report = tokenize_conversations([fits, long_prompt, fits], tok, 120)
    assert report.truncated == 3 and report.kept == 2 and report.dropped == 1
    assert report.dropped_indices == [1] and report.reasons == {"truncated_away": 1}
    assert all(len(e["input_ids"]) == 120 for e in examples)
    report.check(0.5)  # one in three is allowed
    with pytest.raises(ForgeError) as e:
        report.check(0.2)
    assert e.value.kind == "template_mismatch" and e.value.exit_code == 2
    assert "starts after token 120" in e.value.message and "max_seq_length" in e.value.message


def test_all_dropped_refuses_with_template_reason():
    jinja = "{% for m in messages %}{% if m['role'] == 'user' %}{{ m['content'] }}\n{% endif %}{% endfor %}"
    _, report = tokenize_conversations([conv("q", "a")] * 3, CharTokenizer(jinja), 64)
    assert report.kept == 0 and report.dropped == 3
    with pytest.raises(ForgeError, match="renders no assistant turns"):
        report.check(1.0)  # all dropped is refused whatever the allowed share


def test_template_that_raises_is_reported():
    jinja = "{{ raise_exception('roles must alternate') }}"
    _, report = tokenize_conversations([conv("q", "a")], CharTokenizer(jinja), 64)
    assert report.reasons == {"template_error": 1}
    with pytest.raises(ForgeError, match="roles must alternate"):
        report.check(0.5)


def test_empty_dataset_refused():
    with pytest.raises(ForgeError, match="no conversations"):
        DropReport().check(0.5)


def test_render_masked_example_collapses_a_run_of_one_token():
    """An image's 256 placeholders read as one `<tok>×256` in the log, the text around them intact."""
    tok = CharTokenizer(TEMPLATES["llama-3"].jinja)
    ids = [ord(c) for c in "ab"] + [ord("@")] * 256 + [ord(c) for c in "cd"] + [ord("z")] * 3
    labels = [IGNORE] * (len(ids) - 3) + ids[-3:]
    shown = render_masked_example({"input_ids": ids, "labels": labels}, tok)
    assert shown == "ab@×256cd«zzz»"
