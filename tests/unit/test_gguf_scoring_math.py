"""The GGUF path's arithmetic on a stand-in for llama.cpp (no model): the loss over trained positions
from one batched evaluation's logits, and greedy decoding stopped by the file's own stop tokens."""

from __future__ import annotations

import math

import numpy as np
import pytest

from forge.evaluate.loaders import gguf_greedy, gguf_nll


class FakeLlama:
    """Logits from a fixed table, as Llama.eval(logits_all=True) leaves them in `scores`."""

    def __init__(self, table: np.ndarray):
        self.table, self.evals = table, []
        self.scores = None

    def reset(self):
        self.scores = None

    def eval(self, ids):
        self.evals.append(list(ids))
        self.scores = self.table[: len(ids)]


def test_nll_counts_only_the_trained_positions():
    vocab = 5
    table = np.zeros((4, vocab), dtype=np.float32)
    table[1, 3] = 10.0  # position 1 predicts token 3 with near certainty
    llm = FakeLlama(table)
    examples = [{"input_ids": [0, 1, 3, 2], "labels": [-100, -100, 3, 2]}]
    nll, n = gguf_nll(llm, examples)
    assert n == 2 and llm.evals == [[0, 1, 3, 2]]  # one evaluation of the whole sequence
    expected = -math.log(math.exp(10) / (math.exp(10) + 4)) + math.log(vocab)  # position 2 is uniform
    assert nll == pytest.approx(expected, rel=1e-6)


class FakeVocab:
    pass


class FakeGen:
    def __init__(self, tokens):
        self.tokens = tokens
        self._model = type("M", (), {"vocab": FakeVocab()})()

    def token_eos(self):
        return 99

    def generate(self, prompt, **kw):
        assert kw["temp"] == 0.0 and kw["top_k"] == 1  # greedy
        yield from self.tokens


def test_greedy_stops_at_end_of_generation_and_control_tokens():
    class LlamaCpp:
        @staticmethod
        def llama_vocab_is_eog(vocab, tok):
            return tok == 7

        @staticmethod
        def llama_vocab_is_control(vocab, tok):
            return tok == 8

    assert gguf_greedy(LlamaCpp, FakeGen([1, 2, 7, 3]), [0], 10) == [1, 2]
    assert gguf_greedy(LlamaCpp, FakeGen([1, 8, 3]), [0], 10) == [1]
    assert gguf_greedy(LlamaCpp, FakeGen([1, 2, 3, 4]), [0], 3) == [1, 2, 3]
    assert gguf_greedy(LlamaCpp, FakeGen([1, 99]), [0], 10) == [1]
