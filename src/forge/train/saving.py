"""The recipe's outputs after training: the adapter and the merged model, each written into a
temporary sibling and swapped in whole (forge.files.write_swapped), then the GGUF export when the
config asks for it. A kill at any moment leaves the previous folder or the new one, never half."""

from __future__ import annotations

from pathlib import Path

from forge.files import write_swapped


def adapter_complete(path: Path) -> bool:
    return (path / "adapter_config.json").is_file() and (path / "adapter_model.safetensors").is_file()


def merged_complete(path: Path) -> bool:
    return (path / "config.json").is_file() and any(path.glob("*.safetensors"))


def save_models(recipe) -> None:
    from forge.train.integrity import clean_swap_leftovers

    cfg, log = recipe.settings.cfg, recipe.log
    model, tok, backend = recipe.trainer.model, recipe.tokenizer, recipe.backend
    lora_dir = recipe.project.path(cfg.save.lora_path)
    clean_swap_leftovers(lora_dir)  # what a run killed in the middle of an earlier swap left
    write_swapped(lora_dir, recipe.run_id, lambda tmp: backend.save_adapter(model, tok, tmp), adapter_complete)
    log.info("adapter saved: %s", lora_dir)
    # with save.gguf_path set, the merged model comes from `forge export` (merged once, verified)
    if cfg.save.merged_path and not cfg.save.gguf_path:
        if recipe.world.strategy == "fsdp":
            # a sharded model does not merge in memory: `forge export`'s merge, from the adapter just saved
            from forge.export import export_project

            export_project(recipe.project, cfg, True, [], progress=lambda m: log.info("export: %s", m))
            log.info(
                "merged 16-bit model saved (from the adapter, fsdp): %s", recipe.project.path(cfg.save.merged_path)
            )
            return
        merged_dir = recipe.project.path(cfg.save.merged_path)
        clean_swap_leftovers(merged_dir)
        write_swapped(merged_dir, recipe.run_id, lambda tmp: backend.save_merged(model, tok, tmp), merged_complete)
        log.info("merged 16-bit model saved: %s", merged_dir)


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
