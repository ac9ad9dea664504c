"""The GGUF path's arithmetic on a stand-in for llama.cpp (no model): the loss over trained positions
from one batched evaluation that asks for their logits only, and greedy decoding stopped by the file's own stop tokens."""

from __future__ import annotations

import ctypes
import math

import numpy as np
import pytest

from forge.evaluate.loaders import gguf_greedy, gguf_nll


class FakeBatch:
    def __init__(self, n):
        self.n_tokens = 0
        self.token, self.pos, self.n_seq_id, self.logits = [0] * n, [0] * n, [0] * n, [False] * n
        self.seq_id = [[None] for _ in range(n)]


class FakeLlamaCpp:
    """llama.cpp's batch API over a fixed logits table (row p: the logits after position p): what
    llama_decode was given, and only the flagged positions' rows out of llama_get_logits."""

    def __init__(self, table: np.ndarray):
        self.table, self.decoded, self.cleared, self.freed = table, [], 0, 0
        self.out = None

    def llama_batch_init(self, n, embd, n_seq_max):
        assert embd == 0 and n_seq_max == 1
        return FakeBatch(n)

    def llama_batch_free(self, batch):
        self.freed += 1

    def llama_get_memory(self, ctx):
        return "memory"

    def llama_memory_clear(self, memory, data):
        self.cleared += 1

    def llama_decode(self, ctx, b):
        n = b.n_tokens
        assert all(b.n_seq_id[i] == 1 and b.seq_id[i][0] == 0 for i in range(n))
        flagged = [b.pos[i] for i in range(n) if b.logits[i]]
        self.decoded.append(([b.token[i] for i in range(n)], [b.pos[i] for i in range(n)], flagged))
        self.out = np.ascontiguousarray(self.table[flagged], dtype=np.float32)
        return 0

    def llama_get_logits(self, ctx):
        return ctypes.cast(self.out.ctypes.data, ctypes.POINTER(ctypes.c_float))


class FakeLlama:
    def __init__(self, vocab: int, n_batch: int):
        self.ctx, self.n_batch, self._vocab = "ctx", n_batch, vocab

    def n_vocab(self):
        return self._vocab


def test_nll_counts_only_the_trained_positions_and_asks_for_their_logits_only():
    vocab = 5
    table = np.zeros((4, vocab), dtype=np.float32)
    table[1, 3] = 10.0  # position 1 predicts token 3 with near certainty
    lib = FakeLlamaCpp(table)
    examples = [{"input_ids": [0, 1, 3, 2], "labels": [-100, -100, 3, 2]}]
    nll, n = gguf_nll(lib, FakeLlama(vocab, 512), examples)
    # one evaluation of the whole sequence; logits only where the next token is trained (1 and 2)
    assert n == 2 and lib.decoded == [([0, 1, 3, 2], [0, 1, 2, 3], [1, 2])]
    expected = -math.log(math.exp(10) / (math.exp(10) + 4)) + math.log(vocab)  # position 2 is uniform
    assert nll == pytest.approx(expected, rel=1e-6)
    assert lib.cleared == 1 and lib.freed == 1


def test_nll_of_a_sequence_longer_than_a_batch_continues_its_positions():
    vocab = 3
    table = np.log(np.full((6, vocab), 1.0 / vocab, dtype=np.float32))
    lib = FakeLlamaCpp(table)
    examples = [
        {"input_ids": [0, 1, 2, 0, 1, 2], "labels": [-100, -100, -100, 0, 1, 2]},
        {"input_ids": [1, 1], "labels": [-100, -100]},  # nothing trained: not evaluated
    ]
    nll, n = gguf_nll(lib, FakeLlama(vocab, 2), examples)
    assert n == 3 and nll == pytest.approx(3 * math.log(3), rel=1e-6)
    assert [d[1] for d in lib.decoded] == [[0, 1], [2, 3], [4, 5]]  # one cache, positions go on
    assert [d[2] for d in lib.decoded] == [[], [2, 3], [4]]


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
