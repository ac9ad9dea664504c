"""Built-in tiny models, model resolution and template-derived masking with real tokenizers (CPU)."""

import copy
import hashlib
import json
import time
from pathlib import Path

import pytest

from forge.config import ModelSection
from forge.data.formats import normalize
from forge.errors import ForgeError
from forge.models.loader import build_tiny, load_model_and_tokenizer, resolve_model_path
from forge.models.templates import TEMPLATES, Renderer, apply_chat_template, render, response_markers, template_for
from forge.train.dataset import IGNORE, render_masked_example, tokenize_conversations

pytestmark = pytest.mark.slow

BUILTINS = {
    "builtin:tiny-llama": ("LlamaForCausalLM", "<|eot_id|>"),
    "builtin:tiny-gemma3": ("Gemma3ForCausalLM", "<end_of_turn>"),
}
MULTI = [
    {"role": "system", "content": "You answer briefly."},
    {"role": "user", "content": "What is the weather in Paris?"},
    {"role": "assistant", "content": '{"name": "get_weather", "arguments": {"city": "Paris"}}'},
    {"role": "tool", "content": '{"temperature": 18, "unit": "C"}'},
    {"role": "assistant", "content": "It is 18 degrees in Paris today."},
    {"role": "user", "content": "Thanks!"},
    {"role": "assistant", "content": "You are welcome."},
]


@pytest.fixture(scope="module", autouse=True)
def forge_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FORGE_CACHE", str(tmp_path_factory.mktemp("forge-cache")))
        yield


@pytest.fixture(scope="module", params=sorted(BUILTINS))
def loaded(request):
    model, tok = load_model_and_tokenizer(ModelSection(name=request.param))
    return request.param, model, tok


def digest(folder):
    h = hashlib.sha256()
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        h.update((folder / name).read_bytes())
    return h.hexdigest()


@pytest.mark.parametrize("key", ["tiny-llama", "tiny-gemma3"])
def test_builds_deterministically_and_quickly(tmp_path, key):
    # transformers imports lazily: load what the build uses first, so only the build is timed
    from transformers import Gemma3ForCausalLM, GenerationConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    assert Gemma3ForCausalLM and GenerationConfig and LlamaForCausalLM and PreTrainedTokenizerFast

    t0 = time.monotonic()
    a = build_tiny(key, tmp_path / "a")
    assert time.monotonic() - t0 < 20  # ~1-2 s on an idle 2-core machine
    b = build_tiny(key, tmp_path / "b")
    assert digest(a) == digest(b)
    assert digest(a) != digest(build_tiny(key, tmp_path / "c", seed=1))  # the seed is what fixes it


def test_resolve_caches_builtins_atomically():
    first = resolve_model_path("builtin:tiny-llama")
    t0 = time.monotonic()
    assert resolve_model_path("builtin:tiny-llama") == first
    assert time.monotonic() - t0 < 0.5
    folder = Path(first)
    assert (folder / "forge-builtin.json").exists() and folder.name == "tiny-llama-v1"
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temp folders left
    assert resolve_model_path(first) == first  # a local folder resolves to itself


def test_load_forward_and_generate(loaded):
    import torch

    name, model, tok = loaded
    assert type(model).__name__ == BUILTINS[name][0]
    assert model.dtype == torch.float32 and model.num_parameters() < 2_000_000
    ids = tok.apply_chat_template(MULTI[:2], add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model(**ids, labels=ids["input_ids"])
    assert torch.isfinite(out.loss) and 5 < out.loss.item() < 9  # ~ln(vocab) for random weights
    gen = model.generate(**ids, max_new_tokens=4, do_sample=False)
    assert gen.shape[1] == ids["input_ids"].shape[1] + 4 or tok.eos_token_id in gen[0].tolist()


def test_tokenizer_round_trips_and_keeps_special_tokens_whole(loaded):
    name, _, tok = loaded
    text = 'Weather in Zürich: {"city": "Zürich", "temp": -3.5, "ok": true} 🙂 #42\n\n  indented'
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text
    for special in TEMPLATES["llama-3" if "llama" in name else "gemma-3"].special_tokens:
        assert len(tok(special, add_special_tokens=False)["input_ids"]) == 1, special
    assert tok.pad_token is not None and tok.pad_token != tok.eos_token
    plain = 'Please check the weather in Paris today: {"name": "get_weather", "arguments": {"city": "Paris"}}'
    assert len(tok(plain, add_special_tokens=False)["input_ids"]) < len(plain) / 3  # BPE merges, not bytes


def test_chat_template_applies_and_matches_forge_render(loaded):
    name, _, tok = loaded
    family = "llama-3" if "llama" in name else "gemma-3"
    assert tok.chat_template == TEMPLATES[family].jinja
    special = {"bos_token": tok.bos_token, "eos_token": tok.eos_token}
    for gen in (False, True):
        assert tok.apply_chat_template(MULTI, tokenize=False, add_generation_prompt=gen) == render(
            tok.chat_template, MULTI, gen, special
        )
    instruction, response = response_markers(template_for(family), tok)
    assert response in tok.apply_chat_template(MULTI[:2], tokenize=False, add_generation_prompt=True)
    assert instruction in tok.apply_chat_template(MULTI, tokenize=False)


def trained_pieces(example, tok):
    """Decoded runs of trained tokens."""
    runs, cur = [], []
    for i, lab in zip(example["input_ids"], example["labels"], strict=True):
        if lab != IGNORE:
            assert lab == i
            cur.append(i)
        elif cur:
            runs.append(cur)
            cur = []
    if cur:
        runs.append(cur)
    return [tok.decode(r) for r in runs]


def test_masking_trains_exactly_every_assistant_turn(loaded):
    name, _, tok = loaded
    eot = BUILTINS[name][1]
    examples, report = tokenize_conversations([MULTI, MULTI[1:3]], tok, 1024)
    assert report.kept == 2 and report.dropped == 0 and report.truncated == 0 and report.boundary_merges == 0
    want = [m["content"] + eot for m in MULTI if m["role"] == "assistant"]
    assert trained_pieces(examples[0], tok) == want
    assert trained_pieces(examples[1], tok) == want[:1]
    assert report.trained_tokens == sum(sum(lab != IGNORE for lab in e["labels"]) for e in examples)
    shown = render_masked_example(examples[0], tok)
    assert f"«It is 18 degrees in Paris today.{eot}»" in shown and "«What is" not in shown


def test_another_family_template_on_the_same_tokenizer(loaded):
    # chatml's markers are not tokens of this vocabulary: still masked right, as plain text
    _, _, tok = loaded
    tok = copy.deepcopy(tok)
    apply_chat_template(tok, template_for("chatml"))
    examples, _ = tokenize_conversations([MULTI], tok, 1024)
    want = [m["content"] + "<|im_end|>" for m in MULTI if m["role"] == "assistant"]
    assert "".join(trained_pieces(examples[0], tok)) == "".join(want)


def test_glaive_tool_calling_conversations_tokenize(loaded, external_dir):
    name, _, tok = loaded
    rows = json.loads((external_dir / "glaive_toolcall_en_demo.json").read_text())
    convs = [normalize(r).messages for r in rows]
    assert all(convs)
    examples, report = tokenize_conversations(convs, tok, 8192)
    assert report.kept == len(convs) and report.truncated == 0
    eot = BUILTINS[name][1]
    for conv, ex in zip(convs[:50], examples[:50], strict=True):
        want = [m["content"].strip() + eot for m in conv if m["role"] == "assistant"]
        assert trained_pieces(ex, tok) == want
    assert any('"arguments"' in piece for ex in examples[:50] for piece in trained_pieces(ex, tok))
    renderer = Renderer(tok.chat_template, tok)  # the one-render fast path agrees with the definition
    assert all(renderer.marked_spans(c) == renderer.prefix_spans(c) for c in convs)


def test_truncation_counted_and_all_dropped_refused_with_reason(loaded):
    _, _, tok = loaded
    long_system = [{"role": "system", "content": "Rules. " * 200}, *MULTI[1:3]]
    examples, report = tokenize_conversations([MULTI, long_system], tok, 64)
    assert report.truncated >= 1 and report.dropped == 1 and report.dropped_indices == [1]
    assert all(len(e["input_ids"]) <= 64 for e in examples)
    _, report = tokenize_conversations([long_system] * 4, tok, 64)
    with pytest.raises(ForgeError) as e:
        report.check(0.5)
    assert e.value.kind == "template_mismatch" and e.value.exit_code == 2
    assert "starts after token 64" in e.value.message and "max_seq_length" in e.value.message


def test_unknown_hub_id_offline_fails_fast_with_reason(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.monotonic()
    with pytest.raises(ForgeError) as e:
        resolve_model_path("some-org/not-a-model")
    assert time.monotonic() - t0 < 5
    assert e.value.kind == "model_not_found" and e.value.cause == "cache"
    # names that exist only (issue 28 item 7): the built-ins, never an invented unsloth/ copy of the name
    assert "unsloth/not-a-model" not in e.value.fix and "builtin:tiny-llama" in e.value.fix
    with pytest.raises(ForgeError, match="did you mean 'builtin:tiny-llama'"):
        resolve_model_path("builtin:tiny-lama")


def test_answer_token_merged_with_prompt_space_is_trained_and_counted(loaded):
    # mistral puts the answer right after "[/INST] ": byte-level BPE makes " the" one token
    _, _, tok = loaded
    tok = copy.deepcopy(tok)
    apply_chat_template(tok, template_for("mistral"))
    convo = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "the answer is 42."}]
    examples, report = tokenize_conversations([convo], tok, 256)
    assert report.boundary_merges == 1 and "shared with the prompt" in report.summary()
    assert trained_pieces(examples[0], tok) == [" the answer is 42." + tok.eos_token]
