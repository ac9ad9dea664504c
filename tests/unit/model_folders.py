"""Tiny model folders written by hand for the resolver tests: config.json, a tokenizer (tokenizer.json
+ tokenizer_config.json), generation_config.json and a safetensors file that holds only a header
and zero bytes. No torch, no download: enough for forge to read the model's facts and tokenize."""

from __future__ import annotations

import json
import struct
from pathlib import Path

QWEN_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
WORDS = "what is the answer to question q v a an of hello please tell me it forty two yes no".split()


def _safetensors(path: Path, tensors: dict[str, list[int]]) -> None:
    """A safetensors file of zeros: the header names each tensor with its shape (forge reads the
    shapes: a 2-D weight is a linear layer or an embedding, a 1-D one a norm)."""
    header: dict = {"__metadata__": {"format": "pt"}}
    offset = 0
    for n, shape in tensors.items():
        size = 2 * _count(shape)  # BF16
        header[n] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * offset)


def make_model(
    folder: Path,
    *,
    specials: list[str],
    model_type: str = "qwen2",
    architecture: str = "Qwen2ForCausalLM",
    chat_template: str | None = QWEN_TEMPLATE,
    eos: str = "<|im_end|>",
    hidden: int = 32,
    layers: int = 2,
) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {t: i for i, t in enumerate(["<unk>", *WORDS])}
    for c in "abcdefghijklmnopqrstuvwxyz0123456789?.!<>|_/\n":
        vocab.setdefault(c, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(" ", "removed")
    tok.add_special_tokens(specials)
    tok.save(str(folder / "tokenizer.json"))
    tc = {"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": eos, "pad_token": specials[-1]}
    if chat_template:
        tc["chat_template"] = chat_template
    (folder / "tokenizer_config.json").write_text(json.dumps(tc))
    n_vocab = len(vocab) + len(specials)
    config = {
        "architectures": [architecture],
        "model_type": model_type,
        "hidden_size": hidden,
        "intermediate_size": 2 * hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": n_vocab,
        "max_position_embeddings": 4096,
        "tie_word_embeddings": True,
    }
    (folder / "config.json").write_text(json.dumps(config))
    eos_id = len(vocab) + specials.index(eos) if eos in specials else 0
    (folder / "generation_config.json").write_text(json.dumps({"eos_token_id": [eos_id]}))
    _safetensors(folder / "model.safetensors", llama_tensors(n_vocab, hidden, layers))
    return folder


def _count(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def llama_tensors(vocab: int, hidden: int, layers: int, kv: int = 2, heads: int = 4) -> dict[str, list[int]]:
    """The weights of a Llama-shaped decoder (tied LM head: no lm_head.weight), name -> shape."""
    head_dim = hidden // heads
    q, k, inter = heads * head_dim, kv * head_dim, 2 * hidden
    out: dict[str, list[int]] = {"model.embed_tokens.weight": [vocab, hidden], "model.norm.weight": [hidden]}
    for i in range(layers):
        p = f"model.layers.{i}."
        out.update({
            p + "input_layernorm.weight": [hidden],
            p + "post_attention_layernorm.weight": [hidden],
            p + "self_attn.q_proj.weight": [q, hidden],
            p + "self_attn.k_proj.weight": [k, hidden],
            p + "self_attn.v_proj.weight": [k, hidden],
            p + "self_attn.o_proj.weight": [hidden, q],
            p + "mlp.gate_proj.weight": [inter, hidden],
            p + "mlp.up_proj.weight": [inter, hidden],
            p + "mlp.down_proj.weight": [hidden, inter],
        })  # fmt: skip
    return out


def make_chatml(folder: Path, **kw) -> Path:
    """A Qwen/ChatML-style model: <|im_start|>/<|im_end|> are special tokens, its own template."""
    return make_model(folder, specials=["<|im_start|>", "<|im_end|>", "<|endoftext|>"], **kw)


def make_gemma(folder: Path, **kw) -> Path:
    """A Gemma-3-style model without a template of its own: the family's format comes from model_type."""
    kw.setdefault("chat_template", None)
    return make_model(
        folder,
        specials=["<bos>", "<start_of_turn>", "<end_of_turn>", "<eos>", "<pad>"],
        model_type="gemma3_text",
        architecture="Gemma3ForCausalLM",
        eos="<end_of_turn>",
        **kw,
    )


def chat_rows(n: int, prefix: str = "q", system: str | None = None) -> list[dict]:
    rows = []
    for i in range(n):
        turns = [{"from": "system", "value": system}] if system else []
        turns += [{"from": "human", "value": f"{prefix} {i} what is the answer"}, {"from": "gpt", "value": "forty two"}]
        rows.append({"conversations": turns})
    return rows


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_adapter(lora_dir: Path, base: str, payload: bytes = b"\0\0\0\0") -> Path:
    """adapter_config.json naming `base`, and an adapter_model.safetensors with one F32 tensor."""
    lora_dir.mkdir(parents=True, exist_ok=True)
    (lora_dir / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": base, "r": 8}))
    header = json.dumps({"lora_A": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    (lora_dir / "adapter_model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + payload)
    return lora_dir
