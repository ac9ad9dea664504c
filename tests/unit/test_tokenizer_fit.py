"""The resolver's tokenizer-fit refusal: a model whose tokenizer reads the data as (almost) nothing,
or as its unknown token, is refused by check and train alike; real data on real tokenizers passes."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from forge.config import validate_dict
from forge.data.formats import normalize
from forge.models.facts import read_facts
from forge.plan.measure import measure
from forge.plan.refusals import MAX_CHARS_PER_TOKEN, _tokenizer_fit
from forge.plan.stats import DataStats

CFG = validate_dict({"model": {"name": "builtin:tiny-llama"}, "dataset": {"chat_template": "auto"}})


def _refusals(**fit) -> list:
    p = SimpleNamespace(refusals=[])  # the part of a Plan the refusal writes
    _tokenizer_fit(p, CFG, DataStats(10, **fit))
    return p.refusals


def test_no_tokens_at_all_is_refused_naming_the_split():
    (r,) = _refusals(text_chars=90_000, text_tokens=0)
    assert r.kind == "tokenizer" and "no tokens" in r.message and "data/splits/train.jsonl" in r.message


def test_long_tokens_are_refused_and_ordinary_ones_pass():
    assert _refusals(text_chars=int(90_000 * MAX_CHARS_PER_TOKEN) + 1000, text_tokens=90_000)
    assert not _refusals(text_chars=400_000, text_tokens=90_000)  # 4.4 characters a token
    assert not _refusals(text_chars=90_000, text_tokens=80_000)  # CJK-like, near 1
    assert not _refusals()  # not measured with a tokenizer: nothing to say


def test_mostly_unknown_tokens_are_refused():
    (r,) = _refusals(text_chars=40_000, text_tokens=10_000, unk_tokens=4_000)
    assert "40% of" in r.message and "unknown token" in r.message
    assert not _refusals(text_chars=40_000, text_tokens=10_000, unk_tokens=50)


@pytest.mark.parametrize("name", ["glaive_toolcall_en_demo.json", "alpaca_en_demo.json"])
def test_real_data_fits_the_built_in_tokenizer(external_dir, name):
    convs = [normalize(r).messages for r in json.loads((external_dir / name).read_text())]
    m = measure(convs, CFG, read_facts(CFG.model.name))
    assert m["text_tokens"] > 0 and m["unk_tokens"] == 0
    assert 1.0 < m["text_chars"] / m["text_tokens"] < MAX_CHARS_PER_TOKEN
    assert not _refusals(**{k: m[k] for k in ("text_chars", "text_tokens", "unk_tokens")})
