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
    from forge.train.integrity import clean_swap_leftovers

    cfg, log = recipe.settings.cfg, recipe.log
    model, tok, backend = recipe.trainer.model, recipe.tokenizer, recipe.backend
    lora_dir = recipe.project.path(cfg.save.lora_path)
    clean_swap_leftovers(lora_dir)  # what a run killed in the middle of an earlier swap left
    write_swapped(lora_dir, recipe.run_id, lambda tmp: backend.save_adapter(model, tok, tmp), adapter_complete)
    log.info("adapter saved: %s", lora_dir)
    # with save.gguf_path set, export_after_training makes the merged model with the GGUF files (merged once)
    if cfg.save.merged_path and not cfg.save.gguf_path:
        export_merged(recipe)


def export_merged(recipe) -> None:
    """save.merged_path set: `forge export --merged` from the adapter just saved (verified, swapped in)."""
    from forge.export import export_project
    from forge.train.integrity import clean_swap_leftovers

    cfg, log = recipe.settings.cfg, recipe.log
    merged_dir = recipe.project.path(cfg.save.merged_path)
    clean_swap_leftovers(merged_dir)  # a kill in the middle of an older forge's swap of this folder
    recipe.status.phase("exporting", message=f"merged 16-bit model -> {cfg.save.merged_path}")
    report = export_project(recipe.project, cfg, True, [], progress=lambda m: log.info("export: %s", m))
    log.info("merged model verified and saved (%s): %s", (report.merged or {}).get("dtype", "16-bit"), merged_dir)
    recipe.status.phase("saving")  # the stats and the loss plot follow


def export_after_training(recipe) -> None:
    """save.gguf_path set: the same export as `forge export`, verified, once the adapter is safe on disk.

    The export reloads base + adapter from disk, so what it verifies is exactly what was saved.
    """
    from forge.export import export_project
    from forge.export.gguf import parse_types

    cfg, log = recipe.settings.cfg, recipe.log
    recipe.status.phase("exporting", message=f"GGUF {cfg.save.gguf_quantization} -> {cfg.save.gguf_path}")
    types = parse_types(cfg.save.gguf_quantization)
    report = export_project(
        recipe.project, cfg, bool(cfg.save.merged_path), types, progress=lambda m: log.info("export: %s", m)
    )
    log.info("export verified: %d GGUF file(s)%s", len(report.gguf), ", merged model" if report.merged else "")
