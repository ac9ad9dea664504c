"""Checks a vision-language model's export adds (torch, PIL imported inside functions).

- processor: the merged folder loads with AutoProcessor, and an image message renders through the
  exported chat template to `<start_of_image>` and the image's soft tokens, with pixel values;
- vision tower: unless the adapter trained it, every vision / projector tensor of the merged model
  equals the base model's, rounded once to the saved dtype (a merge that touched the tower, or a
  save that dropped it, shows here);
- mmproj GGUF: its metadata names the projector type and image geometry of the model's config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forge.export.verify import check
from forge.models.facts import vision_config

_VISION_PREFIXES = ("vision_tower.", "multi_modal_projector.", "model.vision_tower.", "model.multi_modal_projector.")


def adapter_touches_vision(lora_dir: Path) -> bool:
    from safetensors import safe_open

    from forge.train.lora_targets import is_vision

    with safe_open(str(lora_dir / "adapter_model.safetensors"), "pt") as f:
        return any(is_vision(k) for k in f.keys())


def processor_check(merged_dir: Path) -> dict[str, Any]:
    from PIL import Image
    from transformers import AutoProcessor
    from transformers import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the PIL image processor stands in for the torchvision one
    try:
        processor = AutoProcessor.from_pretrained(str(merged_dir))
    except Exception as e:
        return check("processor", False, f"AutoProcessor cannot load the merged folder: {type(e).__name__}: {e}")
    finally:
        hf_logging.set_verbosity(verbosity)
    image = Image.new("RGB", (32, 24), (200, 30, 30))
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What colour is this?"}]}]
    try:
        text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        inputs = processor(text=text, images=[image], return_tensors="pt")
    except Exception as e:
        return check("processor", False, f"an image message does not render: {type(e).__name__}: {e}")
    boi = getattr(processor.tokenizer, "boi_token", None) or "<start_of_image>"
    tok = processor.tokenizer
    image_token = getattr(tok, "image_token", None)
    image_id = tok.convert_tokens_to_ids(image_token) if image_token else getattr(processor, "image_token_id", None)
    n_image = int((inputs["input_ids"] == image_id).sum()) if image_id is not None else 0
    ok = boi in text and "pixel_values" in inputs and n_image > 0
    return check(
        "processor",
        ok,
        f"AutoProcessor loads; an image message renders {boi} and {n_image} image tokens, pixel values "
        f"{tuple(inputs['pixel_values'].shape)}"
        if ok
        else f"an image message rendered without {boi} or image tokens: {text[:200]!r}",
        image_tokens=n_image,
    )


def vision_unchanged_check(base_path: str | Path, merged_dir: Path, *, adapted: bool) -> dict[str, Any]:
    import torch
    from safetensors import safe_open

    def tensors(folder: Path) -> dict[str, Any]:
        out = {}
        for file in sorted(Path(folder).glob("*.safetensors")):
            with safe_open(str(file), "pt") as f:
                for k in f.keys():
                    if k.startswith(_VISION_PREFIXES):
                        out[k.removeprefix("model.")] = f.get_tensor(k)
        return out

    base, merged = tensors(Path(base_path)), tensors(merged_dir)
    if adapted:
        return check("vision tower", True, "the adapter trains the vision tower: its merged weights changed as trained")
    missing = sorted(set(base) - set(merged))
    changed = [k for k in base if k in merged and not torch.equal(base[k].to(merged[k].dtype), merged[k])]
    ok = bool(base) and not missing and not changed
    if ok:
        detail = f"all {len(base)} vision and projector tensors equal the base model's (at {_dtype(merged)})"
    elif not base:
        detail = "the base model has no vision tensors under the expected names"
    else:
        detail = f"{len(missing)} vision tensors missing, {len(changed)} changed (e.g. {(missing + changed)[0]})"
    return check("vision tower", ok, detail, tensors=len(base), changed=len(changed), missing=len(missing))


def _dtype(tensors: dict[str, Any]) -> str:
    return str(next(iter(tensors.values())).dtype).replace("torch.", "") if tensors else "?"


def mmproj_metadata_check(meta: dict[str, Any], merged_dir: Path) -> dict[str, Any]:
    vision = vision_config(merged_dir, strict=True)  # the folder was just saved: unreadable is an error
    expect = {
        "general.architecture": "clip",
        "clip.has_vision_encoder": True,
        "clip.vision.image_size": vision.get("image_size"),
        "clip.vision.patch_size": vision.get("patch_size"),
        "clip.vision.block_count": vision.get("num_hidden_layers"),
    }
    wrong = [f"{k} is {meta.get(k)!r}, expected {v!r}" for k, v in expect.items() if v is not None and meta.get(k) != v]
    proj = meta.get("clip.projector_type")
    if not proj:
        wrong.append("clip.projector_type is missing")
    return check(
        "mmproj metadata",
        not wrong,
        "; ".join(wrong)
        or f"projector {proj}, image {expect['clip.vision.image_size']} px, "
        f"patch {expect['clip.vision.patch_size']}, {expect['clip.vision.block_count']} vision blocks",
        projector_type=proj,
    )
