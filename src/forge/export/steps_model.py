"""The export steps up to a verified merged model (torch inside functions).

plan -> disk -> load -> reference -> merge -> save_merged. Each takes the ExportJob and returns
nothing; a failed check raises ExportVerificationError once the step that found it is done.
"""

from __future__ import annotations

import gc

from forge.errors import ForgeError
from forge.export.gguf import CONVERTER_TYPES, EXTRA_HINT, llama_cpp_available
from forge.export.job import ExportJob, partial, size, slug
from forge.export.verify import GREEDY_CHECK
from forge.models.facts import has_vision


class ExportVerificationError(ForgeError):
    kind = "export_verification"

    def __init__(self, report):
        failed = report.failed_checks
        lines = [f"{c.get('target', '')} {c['name']}: {c['detail']}".strip() for c in failed]
        kept = [p for p in ([report.merged["path"]] if report.merged and report.merged.get("kept") else [])]
        fix = (
            "see metrics/export-report.json; re-train if the adapter is damaged, and check that "
            "dataset.chat_template is the template the adapter was trained with"
        )
        if failed and all(c["name"] == GREEDY_CHECK for c in failed):
            # the files are the merged model's (their tensor checks passed); what differs is quality
            fix = (
                "the GGUF's tensors match the merged model but its greedy decoding departs from it: the "
                "quantization costs quality. Export a finer type (--gguf q8_0), or add --evaluate: the "
                "artifact gate then keeps a k-quant and scores what it lost against the baseline"
            )
        super().__init__(
            "export verification failed; "
            + (f"kept only the verified {kept[0]}" if kept else "no new file was kept")
            + ":\n  "
            + "\n  ".join(lines),
            fix=fix,
        )
        self.report = report


def fail_on_checks(job: ExportJob) -> None:
    if job.report.failed_checks:
        raise ExportVerificationError(job.report)


def plan(job: ExportJob) -> None:
    """Where everything goes; refuse what cannot be made here before anything is written."""
    from forge.models.adapter_base import adapter_base

    cfg, project = job.cfg, job.project
    where = project.outputs(cfg)  # the config's folders, never the defaults (forge.project)
    # before the merge, not at its swap: `save.merged_path: "."` used to replace the project with it
    writes = {"save.merged_path": job.want_merged, "save.gguf_path": bool(job.gguf_types)}
    for key, why in project.output_clashes(cfg):
        if writes.get(key):
            raise ForgeError(
                why, fix=f"point {key} at a folder of its own inside the project", exit_code=2, kind="config"
            )
    job.lora_dir = where.lora
    # evaluate's question too, with its answer: an adapter of another base than model.name is refused
    base = adapter_base(job.lora_dir, cfg.model.name, project.rel(job.lora_dir))
    _whole_adapter(project, job.lora_dir)
    job.base_path, job.base_name = base.path, base.name
    job.report.adapter, job.report.base_model = str(job.lora_dir), base.name
    job.merged_final = where.merged
    job.gguf_dir = where.gguf
    job.slug = slug(job.base_name)
    job.vision = has_vision(job.base_path)
    k_types = [t for t in job.gguf_types if t not in CONVERTER_TYPES]
    if k_types and not llama_cpp_available():
        raise ForgeError(
            f"GGUF types {', '.join(t.upper() for t in k_types)} need llama.cpp's quantizer (llama-cpp-python), "
            "which is not installed",
            fix=f"{EXTRA_HINT}, or export f16 / bf16 / q8_0 only",
            kind="export_dependency",
        )


def _whole_adapter(project, lora_dir) -> None:
    """A truncated adapter_model.safetensors is named before any weights load, as evaluate names it
    (QA: export printed safetensors' own "Error while deserializing header: invalid header length")."""
    from forge.check.artifacts import safetensors_header

    weights = lora_dir / "adapter_model.safetensors"
    _, why = safetensors_header(weights)
    if why:
        raise ForgeError(
            f"{project.rel(weights)} is damaged: {why}; there is no complete LoRA adapter to export",
            fix="re-run `forge train` (it saves a complete adapter at the end)",
            exit_code=1,
            kind="adapter_corrupt",
        )


def disk(job: ExportJob) -> None:
    """Everything this export writes, checked against free space before anything is written."""
    from forge.export import disk as D

    job.params = D.safetensors_param_count(job.base_path)
    need = D.estimate(
        job.params,
        D.tokenizer_bytes(job.lora_dir) + D.tokenizer_bytes(job.base_path),
        merged_dir=job.merged_final.parent if job.want_merged else None,
        scratch_dir=job.gguf_dir,
        gguf_dir=job.gguf_dir,
        gguf_types=job.gguf_types,
    )
    job.report.disk = {**need.to_dict(), "filesystems": D.check(need)}
    job.say(f"disk: about {D.human(need.total)} to write; enough space")


def load(job: ExportJob) -> None:
    """Base + adapter in float32 (on the GPU when it holds the model with room to spare)."""
    import torch
    import transformers

    from forge.export import merge as M
    from forge.export import verify as V
    from forge.export.template_choice import keep_template, with_training_roles
    from forge.models.templates import template_for
    from forge.plan.hardware import free_bytes

    transformers.utils.logging.disable_progress_bar()
    # float32 throughout, so that the merge adds no rounding of its own and the checks can be tight
    if torch.cuda.is_available() and job.params * 4 * 1.3 < (free_bytes() or 0):
        job.device = "cuda"
    job.dtype_name = M.save_dtype_name(job.base_path, job.cfg.model.dtype)
    job.say(f"loading {job.base_name} + adapter ({job.device}, float32)")
    job.model, tok = M.load_base_with_adapter(job.base_path, job.lora_dir, device=job.device, dtype=torch.float32)
    job.tokenizer = tok
    job.check(M.adapter_load_check(job.model, job.lora_dir))

    trained = template_for(job.cfg.dataset.chat_template, tok)
    own = tok.chat_template if isinstance(tok.chat_template, str) else None
    job.trained, job.report.chat_template = trained, trained.name
    if own is not None and trained.name != "tokenizer":
        same = own.strip() == trained.jinja.strip()
        job.check(
            V.check(
                "chat template",
                same,
                f"the adapter's tokenizer carries the {trained.name} template of dataset.chat_template"
                if same
                else f"the adapter's tokenizer carries a different chat template than dataset.chat_template "
                f"({job.cfg.dataset.chat_template!r}): the exported model would be prompted differently from training",
            )
        )
    job.special = {k: v for k, v in tok.special_tokens_map.items() if isinstance(v, str)}
    job.jinja, note = keep_template(own or trained.jinja, job.base_path, job.special)
    job.jinja, roles_note = with_training_roles(job.jinja, job.special)
    job.report.notes.extend(n for n in (note, roles_note) if n)
    vocab = tok.get_vocab()
    job.eot_id = vocab.get(trained.eos_token) if trained.eos_token else None
    job.eos_id = tok.eos_token_id
    job.eos_ids = list(dict.fromkeys(i for i in (job.eot_id, job.eos_id) if i is not None))
    job.stop_ids = [vocab[s] for s in trained.stop_strings if s in vocab]


def reference(job: ExportJob) -> None:
    """Logits of base + adapter (unmerged) on a few val prompts: what every later output must match."""
    from forge.export import verify as V

    job.prompts = V.prompt_ids(job.tokenizer, _prompts_source(job.project, job.cfg), job.jinja)
    if not job.prompts:
        raise ForgeError("no val prompt to verify with", fix="add data/splits/val.jsonl", kind="export_failed")
    job.prompt_texts = [job.tokenizer.decode(p, skip_special_tokens=False) for p in job.prompts]
    job.ref = V.logits(job.model, job.prompts)
    with job.model.disable_adapter():
        base_logits = V.logits(job.model, job.prompts)
    job.check(V.adapter_effect(base_logits, job.ref))
    fail_on_checks(job)  # nothing to gain from merging and converting a damaged adapter


def merge(job: ExportJob) -> None:
    """Fold the adapter in (float32), check, save at 16 bits with the processor files and template."""
    from forge.export import merge as M
    from forge.export import verify as V

    job.say("merging the adapter into the base weights")
    from forge.export.verify_vision import adapter_touches_vision

    adapted_vision = adapter_touches_vision(job.lora_dir)
    job.model = M.merge(job.model)
    atol = V.MERGE_ATOL * max(1.0, max(float(r.abs().max()) for r in job.ref))
    job.check(
        V.compare_logits(
            "merge (float32) vs base + adapter",
            job.ref,
            V.logits(job.model, job.prompts),
            atol=atol,
            tolerance_text=f"max |Δlogit| ≤ {V.MERGE_ATOL:g} × max(1, max |logit|); top-1 identical",
        )
    )
    if job.want_merged:
        scratch = job.merged_final
    else:
        # the converter names the GGUF's general.finetune from the folder it reads, and a leading
        # dot or a dash in that name is parsed as one (".forge-merged.partial" was): keep the dot
        # on a parent, discarded with it, and give the folder a plain name
        hidden = job.temp(job.gguf_dir / ".forge-merged")
        hidden.mkdir(parents=True)
        scratch = hidden / "merged"
    job.merged_dir = job.temp(partial(scratch))
    job.say(f"saving the merged model ({job.dtype_name}, safetensors)")
    M.save(
        job.model,
        job.tokenizer,
        job.merged_dir,
        dtype_name=job.dtype_name,
        eos_ids=job.eos_ids,
        chat_template=job.jinja,
        base_path=job.base_path,
    )
    _mark_provenance(job)
    job.model = None
    gc.collect()
    if job.vision:
        from forge.export import verify_vision as VV

        job.check(VV.processor_check(job.merged_dir))
        job.check(VV.vision_unchanged_check(job.base_path, job.merged_dir, adapted=adapted_vision))


def _mark_provenance(job: ExportJob) -> None:
    """The adapter the merged folder was made from, inside it (forge.records.export.PROVENANCE_FILE)."""
    from forge.files import atomic_write_json
    from forge.records.export import PROVENANCE_FILE

    fp = job.report.adapter_fingerprint or {}
    atomic_write_json(
        job.merged_dir / PROVENANCE_FILE,
        {"adapter_sha256": fp.get("sha256"), "base_model": job.base_name, "made_by": "forge export"},
    )


def verify_merged(job: ExportJob) -> None:
    """Reload the saved folder as a user would and compare with base + adapter; keep it if asked."""
    import torch

    from forge.export import verify as V

    if job.vision:
        from transformers import AutoModelForImageTextToText as Auto
    else:
        from transformers import AutoModelForCausalLM as Auto
    reloaded = Auto.from_pretrained(str(job.merged_dir), dtype=torch.float32).to(job.device).eval()
    rtol = V.SAVED_RTOL[job.dtype_name]
    job.check(
        V.compare_logits(
            f"merged model ({job.dtype_name}, loaded by {Auto.__name__}) vs base + adapter",
            job.ref,
            V.logits(reloaded, job.prompts),
            rtol=rtol,
            top1_min=V.SAVED_TOP1_MIN,
            tolerance_text=f"max |Δlogit| ≤ {rtol:g} × max |logit| (one rounding of the weights to "
            f"{job.dtype_name}); top-1 agreement ≥ {V.SAVED_TOP1_MIN:.0%}",
        )
    )
    job.hf_cont = V.greedy(reloaded, job.prompts, job.eos_ids)
    job.hf_full = V.logits(reloaded, [p + c for p, c in zip(job.prompts, job.hf_cont, strict=False)])
    if job.vision and job.gguf_types:
        _image_reference(job, reloaded)
    del reloaded
    gc.collect()
    nbytes = size(job.merged_dir)
    fail_on_checks(job)
    if job.want_merged:  # verified: it is the user's now, whatever happens to the GGUF steps
        job.merged_dir = job.keep(job.merged_dir, job.merged_final)
    job.report.merged = {
        "path": str(job.merged_final) if job.want_merged else None,
        "dtype": job.dtype_name,
        "params": job.params,
        "bytes": nbytes,
        "kept": job.want_merged,
        "adapter_sha256": (job.report.adapter_fingerprint or {}).get("sha256"),  # also in its forge-provenance.json
    }


def _image_reference(job: ExportJob, reloaded) -> None:
    """The merged model's answer about a picture, which llama.cpp's (GGUF + mmproj) is held to later."""
    from forge.export.image_reference import hf_reference
    from forge.export.verify import check
    from forge.export.verify_image_answer import NAME

    try:
        job.image_ref = hf_reference(reloaded, job.merged_dir, job.eos_ids)
    except Exception as e:  # the processor check names a folder that cannot render an image; this says the rest
        job.check(check(NAME, False, f"the merged model could not answer about a picture: {type(e).__name__}: {e}"))


def _prompts_source(project, cfg) -> list[list[dict]]:
    try:
        from forge.data.load import load_conversations
    except ImportError:  # before the data wing's split of reader.py
        from forge.data.reader import load_conversations

    for rel in (cfg.dataset.val_path, cfg.dataset.path):
        if rel and project.path(rel).is_file():
            try:
                return load_conversations(project.path(rel))[:16]
            except Exception:
                continue
    return [[{"role": "user", "content": q}] for q in ("Hello! Who are you?", "What is 2 + 2?", "Name a city.")]
