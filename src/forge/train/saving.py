"""The recipe's outputs after training: the adapter, written into a temporary sibling and swapped
in whole (forge.files.write_swapped), then the merged model and the GGUF files when the config asks
for them. A kill at any moment leaves the previous folder or the new one, never half.

The merged model and the GGUF files come from `forge export`'s pipeline (forge.export.export_project),
the same one `forge export --merged` runs: base + the adapter just saved, reloaded from disk, merged,
saved with the base's processor / SentencePiece files, the generation_config eos ids and the chat
template, verified against base + adapter and only then swapped into place. So a merged model made
by `forge train` is the one `forge export --merged` would make, and metrics/export-report.json says so.
"""

from __future__ import annotations

from pathlib import Path

from forge.files import write_swapped


def adapter_complete(path: Path) -> bool:
    return (path / "adapter_config.json").is_file() and (path / "adapter_model.safetensors").is_file()


def save_models(recipe) -> None:
    """The adapter, swapped in whole. A merged model or GGUF files come from export_after_training,
    after the stats are written: training that finished is recorded even when an export fails."""
    from forge.train.integrity import clean_swap_leftovers

    cfg, log = recipe.settings.cfg, recipe.log
    model, tok, backend = recipe.trainer.model, recipe.tokenizer, recipe.backend
    lora_dir = recipe.project.outputs(cfg).lora
    clean_swap_leftovers(lora_dir)  # what a run killed in the middle of an earlier swap left
    write_swapped(lora_dir, recipe.run_id, lambda tmp: backend.save_adapter(model, tok, tmp), adapter_complete)
    log.info("adapter saved: %s", lora_dir)


def wants_export(cfg) -> bool:
    return bool(cfg.save.merged_path or cfg.save.gguf_path)


def export_after_training(recipe) -> None:
    """save.merged_path and/or save.gguf_path set: the same pipeline as `forge export` (merged once,
    verified, swapped into place), from the adapter just saved, so what it verifies is exactly what
    was saved. The trained model is let go first: the export reloads the base and needs the memory."""
    from forge.export import export_project
    from forge.export.gguf import parse_types
    from forge.train.integrity import clean_swap_leftovers

    cfg, log = recipe.settings.cfg, recipe.log
    merged = bool(cfg.save.merged_path)
    types = parse_types(cfg.save.gguf_quantization) if cfg.save.gguf_path else []
    if merged:
        clean_swap_leftovers(recipe.project.outputs(cfg).merged)  # an older forge's half-done swap
    parts = [f"merged 16-bit model -> {cfg.save.merged_path}"] if merged else []
    if types:
        parts.append(f"GGUF {cfg.save.gguf_quantization} -> {cfg.save.gguf_path}")
    recipe.status.phase("exporting", message=", ".join(parts))
    release_model(recipe)
    report = export_project(recipe.project, cfg, merged, types, progress=lambda m: log.info("export: %s", m))
    done = [f"merged model ({report.merged.get('dtype', '16-bit')})"] if report.merged else []
    if report.gguf:
        done.append(f"{len(report.gguf)} GGUF file(s)")
    log.info("export verified: %s", ", ".join(done))


def release_model(recipe) -> None:
    """Let go of the trained model, its optimizer state and their GPU memory (the trainer's state,
    its step counts, stays): what follows, the export, loads the base model again."""
    import gc

    if recipe.trainer is not None:
        for name in ("model", "model_wrapped", "optimizer", "lr_scheduler"):
            if hasattr(recipe.trainer, name):
                setattr(recipe.trainer, name, None)
    recipe.model = None
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass
