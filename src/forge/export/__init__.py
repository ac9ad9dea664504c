"""Merged model and GGUF files from the saved LoRA adapter, verified (`forge export`).

Read top to bottom: plan the outputs -> check the disk -> merge (float32) and save the 16-bit
model -> convert / quantize to GGUF -> verify everything -> only then move the files from their
`.partial` names to their final ones. A failed check removes the new files (old outputs stay)
and fails the export with what differed; the report is written either way.

This module imports no torch at import time; `export_project` is what `forge train` calls after
training when save.merged_path / save.gguf_path are set.
"""

from __future__ import annotations

import gc
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from forge.errors import ForgeError
from forge.export.gguf import EXTRA_HINT, parse_types

__all__ = ["ExportReport", "export_project", "default_request", "parse_types"]


@dataclass
class ExportReport:
    ok: bool = False
    started_at: str = ""
    completed_at: str = ""
    adapter: str = ""
    base_model: str = ""
    chat_template: str = ""
    merged: dict[str, Any] | None = None
    gguf: list[dict[str, Any]] = field(default_factory=list)
    modelfile: str | None = None
    disk: dict[str, Any] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": 1, **asdict(self)}

    @property
    def failed_checks(self) -> list[dict[str, Any]]:
        return [c for c in self.checks if not c["ok"]]


class ExportVerificationError(ForgeError):
    kind = "export_verification"

    def __init__(self, report: ExportReport):
        failed = report.failed_checks
        lines = [f"{c.get('target', '')} {c['name']}: {c['detail']}".strip() for c in failed]
        super().__init__(
            "export verification failed; no new file was kept:\n  " + "\n  ".join(lines),
            fix="see metrics/export-report.json; re-train if the adapter is damaged, and check that "
            "dataset.chat_template is the template the adapter was trained with",
        )
        self.report = report


def default_request(cfg: Any) -> tuple[bool, list[str]]:
    """(merged, gguf types) when the user named neither: the config's save section, else merged + Q8_0."""
    merged = bool(cfg.save.merged_path)
    types = parse_types(cfg.save.gguf_quantization) if cfg.save.gguf_path else []
    if not merged and not types:
        return True, ["q8_0"]
    return merged, types


def _now() -> str:
    from forge.clock import utcnow

    return utcnow()


def _slug(name: str) -> str:
    tail = name.rstrip("/").split("/")[-1].split(":")[-1]
    return re.sub(r"[^A-Za-z0-9._-]+", "-", tail).strip("-.") or "model"


def _partial(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _promote(tmp: Path, final: Path) -> None:
    """Move a verified output to its final name (an old folder goes only once the new one is in place)."""
    if tmp.is_dir() and final.exists():
        old = final.with_name(final.name + ".old")
        _remove(old)
        os.replace(final, old)
        os.replace(tmp, final)
        _remove(old)
    else:
        os.replace(tmp, final)


def _prompts_source(project: Any, cfg: Any) -> list[list[dict]]:
    from forge.data.reader import load_conversations

    for rel in (cfg.dataset.val_path, cfg.dataset.path):
        if rel and project.path(rel).is_file():
            try:
                return load_conversations(project.path(rel))[:16]
            except Exception:
                continue
    return [[{"role": "user", "content": q}] for q in ("Hello! Who are you?", "What is 2 + 2?", "Name a city.")]


def export_project(
    project: Any,
    cfg: Any,
    merged: bool,
    gguf_types: list[str],
    *,
    progress: Any = None,
) -> ExportReport:
    """Export the project's adapter; write metrics/export-report.json; raise on any failed check."""
    from forge.export import disk
    from forge.files import atomic_write_json

    say = progress or (lambda msg: None)
    t0 = time.monotonic()
    report = ExportReport(started_at=_now())
    gguf_types = parse_types(gguf_types)
    created: list[Path] = []
    try:
        _run(project, cfg, merged, gguf_types, report, created, say, disk)
    except BaseException as e:
        for p in created:
            _remove(p)
        report.ok = False
        if isinstance(e, ExportVerificationError):
            report.error = e.message
        elif isinstance(e, ForgeError):
            report.error = e.message
        else:
            report.error = f"{type(e).__name__}: {e}"
        report.completed_at = _now()
        report.seconds = round(time.monotonic() - t0, 2)
        if not (isinstance(e, ForgeError) and e.kind == "disk_full" and not project.metrics_dir.exists()):
            atomic_write_json(project.export_report_file, report.to_dict())
        raise
    report.completed_at = _now()
    report.seconds = round(time.monotonic() - t0, 2)
    atomic_write_json(project.export_report_file, report.to_dict())
    return report


def _run(project, cfg, want_merged: bool, gguf_types: list[str], report: ExportReport, created: list[Path], say, disk):
    from forge.export import gguf as G
    from forge.export import merge as M
    from forge.export import verify as V
    from forge.models.loader import resolve_model_path
    from forge.models.templates import template_for

    lora_dir = project.path(cfg.save.lora_path)
    info = M.adapter_info(lora_dir)
    base_name = info["base_model_name_or_path"]
    base_path = resolve_model_path(base_name)
    if base_name != cfg.model.name:
        if _same_model(base_path, cfg.model.name, resolve_model_path):
            base_name = cfg.model.name  # the adapter names the resolved folder of the config's model
        else:
            report.notes.append(
                f"the adapter names its base {base_name!r}; the config says {cfg.model.name!r}: using the adapter's"
            )
    report.adapter, report.base_model = str(lora_dir), base_name

    merged_final = project.path(cfg.save.merged_path) if cfg.save.merged_path else project.merged_dir
    gguf_dir = project.path(cfg.save.gguf_path) if cfg.save.gguf_path else project.quantized_dir
    k_types = [t for t in gguf_types if t not in G.CONVERTER_TYPES]
    if k_types and not G.llama_cpp_available():
        raise ForgeError(
            f"GGUF types {', '.join(t.upper() for t in k_types)} need llama.cpp's quantizer (llama-cpp-python), "
            "which is not installed",
            fix=f"{EXTRA_HINT}, or export f16 / bf16 / q8_0 only",
            kind="export_dependency",
        )

    # 1. disk: everything this export writes, before anything is written
    params = disk.safetensors_param_count(base_path)
    scratch = merged_final if want_merged else gguf_dir / ".forge-merged"
    need = disk.estimate(
        params,
        disk.tokenizer_bytes(lora_dir) + disk.tokenizer_bytes(base_path),
        merged_dir=merged_final.parent if want_merged else None,
        scratch_dir=gguf_dir,
        gguf_dir=gguf_dir,
        gguf_types=gguf_types,
    )
    report.disk = {**need.to_dict(), "filesystems": disk.check(need)}
    say(f"disk: about {disk.human(need.total)} to write; enough space")

    import torch
    import transformers

    transformers.utils.logging.disable_progress_bar()
    # float32 throughout, so that the merge adds no rounding of its own and the checks can be tight:
    # on the GPU when it holds the model at 4 bytes a parameter (with room to spare), else on CPU
    device = "cpu"
    if torch.cuda.is_available() and params * 4 * 1.3 < torch.cuda.mem_get_info()[0]:
        device = "cuda"
    dtype_name = M.save_dtype_name(base_path, cfg.model.dtype)
    compute = torch.float32

    # 2. base + adapter, reference logits
    say(f"loading {base_name} + adapter ({device}, {str(compute).replace('torch.', '')})")
    model, tokenizer = M.load_base_with_adapter(base_path, lora_dir, device=device, dtype=compute)
    report.checks.append(M.adapter_load_check(model, lora_dir))

    trained = template_for(cfg.dataset.chat_template, tokenizer)
    own = tokenizer.chat_template if isinstance(tokenizer.chat_template, str) else None
    jinja = own or trained.jinja
    report.chat_template = trained.name
    if own is not None and trained.name != "tokenizer":
        same = own.strip() == trained.jinja.strip()
        report.checks.append(
            V.check(
                "chat template",
                same,
                f"the adapter's tokenizer carries the {trained.name} template of dataset.chat_template"
                if same
                else f"the adapter's tokenizer carries a different chat template than dataset.chat_template "
                f"({cfg.dataset.chat_template!r}): the exported model would be prompted differently from training",
            )
        )
    vocab = tokenizer.get_vocab()
    eot_id = vocab.get(trained.eos_token) if trained.eos_token else None
    eos_id = tokenizer.eos_token_id
    eos_ids = list(dict.fromkeys(i for i in (eot_id, eos_id) if i is not None))
    stop_ids = [vocab[s] for s in trained.stop_strings if s in vocab]

    prompts = V.prompt_ids(tokenizer, _prompts_source(project, cfg), jinja)
    if not prompts:
        raise ForgeError("no val prompt to verify with", fix="add data/splits/val.jsonl", kind="export_failed")
    prompt_texts = [tokenizer.decode(p, skip_special_tokens=False) for p in prompts]
    ref = V.logits(model, prompts)
    with model.disable_adapter():
        base_logits = V.logits(model, prompts)
    report.checks.append(V.adapter_effect(base_logits, ref))
    if report.failed_checks:  # nothing to gain from merging and converting a damaged adapter
        raise ExportVerificationError(report)

    # 3. merge (float32) and save at 16 bits
    say("merging the adapter into the base weights")
    model = M.merge(model)
    report.checks.append(
        V.compare_logits(
            "merge (float32) vs base + adapter",
            ref,
            V.logits(model, prompts),
            atol=_merge_atol(ref),
            tolerance_text=f"max |Δlogit| ≤ {V.MERGE_ATOL:g} × max(1, max |logit|); top-1 identical",
        )
    )
    merged_tmp = _partial(scratch)
    _remove(merged_tmp)
    created.append(merged_tmp)
    say(f"saving the merged model ({dtype_name}, safetensors)")
    M.save(model, tokenizer, merged_tmp, dtype_name=dtype_name, eos_ids=eos_ids, chat_template=jinja)
    del model
    gc.collect()

    from transformers import AutoModelForCausalLM

    reloaded = AutoModelForCausalLM.from_pretrained(str(merged_tmp), dtype=torch.float32).to(device).eval()
    rtol = V.SAVED_RTOL[dtype_name]
    report.checks.append(
        V.compare_logits(
            f"merged model ({dtype_name}, loaded by AutoModelForCausalLM) vs base + adapter",
            ref,
            V.logits(reloaded, prompts),
            rtol=rtol,
            top1_min=V.SAVED_TOP1_MIN,
            tolerance_text=f"max |Δlogit| ≤ {rtol:g} × max |logit| (one rounding of the weights to {dtype_name}); "
            f"top-1 agreement ≥ {V.SAVED_TOP1_MIN:.0%}",
        )
    )
    report.merged = {
        "path": str(merged_final) if want_merged else None,
        "dtype": dtype_name,
        "params": params,
        "bytes": _size(merged_tmp),
        "kept": want_merged,
    }
    hf_cont = V.greedy(reloaded, prompts, eos_ids)
    hf_full = V.logits(reloaded, [p + c for p, c in zip(prompts, hf_cont, strict=False)])
    n_layers = int(
        getattr(reloaded.config, "num_hidden_layers", 0) or reloaded.config.get_text_config().num_hidden_layers
    )
    del reloaded
    gc.collect()

    # 4. GGUF
    slug = _slug(base_name)
    gguf_dir.mkdir(parents=True, exist_ok=True)
    tmp_files: dict[str, Path] = {}
    f16_for_k: Path | None = None
    for t in [t for t in gguf_types if t in G.CONVERTER_TYPES] + (
        ["f16"] if k_types and "f16" not in gguf_types else []
    ):
        out = (
            _partial(gguf_dir / f"{slug}-{t.upper()}.gguf")
            if t in gguf_types
            else gguf_dir / f".{slug}-f16-for-kquants.gguf"
        )
        created.append(out)
        say(f"converting to GGUF {t.upper()} (llama.cpp's converter)")
        notes = G.convert(merged_tmp, out, t, eot_token_id=eot_id if eot_id != eos_id else None, model_name=slug)
        if notes.get("pre_tokenizer"):
            note = f"pre-tokenizer: {notes['pre_tokenizer']}"
            if note not in report.notes:
                report.notes.append(note)
        if t in gguf_types:
            tmp_files[t] = out
        if t == "f16":
            f16_for_k = out
    for t in k_types:
        out = _partial(gguf_dir / f"{slug}-{t.upper()}.gguf")
        created.append(out)
        say(f"quantizing to {t.upper()} (llama.cpp's quantizer)")
        G.quantize(f16_for_k, out, t)
        tmp_files[t] = out

    # 5. verify each GGUF
    inference = G.llama_cpp_available()
    if gguf_types and not inference:
        report.notes.append(
            "llama.cpp inference verification skipped: llama-cpp-python is not installed; GGUF files were checked "
            f"by reading their metadata and comparing their tensors with the merged weights. Enable it with: {EXTRA_HINT}"
        )
    arch = None
    for t, path in tmp_files.items():
        say(f"verifying {t.upper()}")
        meta = G.read_metadata(path)
        arch = meta.get("general.architecture")
        entry_checks = [
            V.gguf_metadata_check(
                meta,
                chat_template=jinja,
                eos_id=eos_id,
                eot_id=eot_id,
                stop_strings=list(trained.stop_strings),
                vocab=vocab,
            ),
            V.gguf_tensor_check(path, merged_tmp, arch, n_layers, t),
        ]
        if inference:
            entry_checks += V.llama_cpp_check(
                path,
                t,
                prompts=prompts,
                prompt_texts=prompt_texts,
                hf_continuations=hf_cont,
                hf_logits=hf_full,
                eos_ids=eos_ids,
                stop_ids=stop_ids,
            )
        for c in entry_checks:
            c["target"] = f"GGUF {t.upper()}"
        report.checks += entry_checks
        final = gguf_dir / path.name.removesuffix(".partial")
        report.gguf.append(
            {"type": t.upper(), "path": str(final), "bytes": path.stat().st_size, "llama_cpp_verified": inference}
        )

    if report.failed_checks:
        raise ExportVerificationError(report)

    # 6. keep: partial names -> final names; Modelfile beside the GGUF files
    if want_merged:
        _promote(merged_tmp, merged_final)
    for path in tmp_files.values():
        _promote(path, gguf_dir / path.name.removesuffix(".partial"))
    for p in created:
        if p.exists():
            _remove(p)  # intermediates (scratch merged model, the f16 the k-quants came from)
    if tmp_files:
        from forge.export.modelfile import render_modelfile
        from forge.files import atomic_write_text

        first = gguf_dir / tmp_files[gguf_types[0]].name.removesuffix(".partial")
        modelfile = gguf_dir / "Modelfile"
        atomic_write_text(modelfile, render_modelfile(first.name, trained.name, list(trained.stop_strings)))
        report.modelfile = str(modelfile)
        if trained.name == "tokenizer":
            report.notes.append("Modelfile has no TEMPLATE: no Go template is known for a custom chat template")
    report.ok = True


def _merge_atol(ref: list[Any]) -> float:
    from forge.export.verify import MERGE_ATOL

    return MERGE_ATOL * max(1.0, max(float(r.abs().max()) for r in ref))


def _same_model(path: str, name: str, resolve) -> bool:
    try:
        return Path(resolve(name)).resolve() == Path(path).resolve()
    except Exception:
        return False


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size
