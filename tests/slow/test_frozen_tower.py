"""A frozen vision tower runs without autograd (forge.train.frozen_tower): the adapters' gradients
are those of the full graph, the tower's output keeps no graph, and a tower with adapters is left
alone. On builtin:tiny-gemma3-vlm, CPU."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from forge.models.builtin_vlm import load_tiny_vlm_path  # noqa: E402
from forge.train.frozen_tower import run_frozen_towers_without_grad  # noqa: E402


def _lora_model(vision: bool):
    from peft import LoraConfig, get_peft_model
    from transformers import Gemma3ForConditionalGeneration

    model = Gemma3ForConditionalGeneration.from_pretrained(str(load_tiny_vlm_path()), dtype=torch.float32)
    with torch.no_grad():  # Gemma 3's init zeroes the projection (no gradient would reach the tower)
        torch.manual_seed(2)
        model.model.multi_modal_projector.mm_input_projection_weight.normal_(0, 0.05)
    pattern = (
        r".*(language_model|vision_tower).*\.(q_proj|v_proj)" if vision else r".*language_model.*\.(q_proj|v_proj)"
    )
    torch.manual_seed(0)
    model = get_peft_model(model, LoraConfig(r=4, target_modules=pattern, init_lora_weights=False))
    model.enable_input_require_grads()  # what PEFT/TRL/Unsloth do: it hooks the tower's patch embedding too
    return model


def _step(model):
    cfg = model.config
    size = cfg.vision_config.image_size
    torch.manual_seed(1)
    ids = torch.tensor([[2] + [cfg.image_token_id] * cfg.mm_tokens_per_image + [105, 106, 107, 108]])
    seen = {}
    tower = model.get_submodule("base_model.model.model.vision_tower")
    handle = tower.register_forward_hook(lambda m, i, o: seen.__setitem__("grad", o.last_hidden_state.requires_grad))
    out = model(
        input_ids=ids,
        pixel_values=torch.randn(1, 3, size, size),
        token_type_ids=(ids == cfg.image_token_id).long(),
        labels=ids,
    )
    out.loss.backward()
    handle.remove()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    return out.loss.item(), grads, seen["grad"]


def test_frozen_tower_keeps_no_graph_and_the_adapters_gradients_are_unchanged():
    before = _step(_lora_model(vision=False))
    model = _lora_model(vision=False)
    wrapped = run_frozen_towers_without_grad(model)
    assert [w.rsplit(".", 1)[-1] for w in wrapped] == ["vision_tower", "multi_modal_projector"]
    after = _step(model)
    assert before[2] is True and after[2] is False  # the libraries' hook made the tower keep its graph
    assert after[0] == pytest.approx(before[0], rel=1e-6)
    assert before[1].keys() == after[1].keys() and before[1]
    for name, grad in before[1].items():
        torch.testing.assert_close(after[1][name], grad, rtol=1e-5, atol=1e-7)
    assert run_frozen_towers_without_grad(model) == []  # once


def test_a_tower_with_adapters_is_left_alone():
    model = _lora_model(vision=True)
    assert run_frozen_towers_without_grad(model) == []  # the projector too: the tower's adapters need its gradients
    loss, grads, tower_grad = _step(model)
    assert tower_grad is True and any("vision_tower" in n for n in grads)
    assert all(g.abs().sum() > 0 for n, g in grads.items() if "vision_tower" in n and "lora_B" in n)
