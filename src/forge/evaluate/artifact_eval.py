"""The artifact rows of metrics/evaluation.json: score each artifact named, gate it, carry the rest.

`forge evaluate --artifact NAME` (forge.evaluate.evaluation.compute_evaluation) scores the adapter,
or reuses its scores from the evaluation on disk when that was made of the same adapter, val file,
settings and threshold, then scores each other artifact named here, through the loader `forge chat`
shares (forge.evaluate.loaders), with the same examples, masking and generation sample. Rows of
artifacts evaluated earlier and not now are kept while the adapter and the artifact's files are
unchanged (their sha256), so `forge export --evaluate` after `forge evaluate` gives one table.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable

from forge.clock import utcnow
from forge.evaluate.artifact_gate import artifact_row
from forge.evaluate.artifacts import Artifact
from forge.files import sha256_file
from forge.records.evaluate import EvaluationRecord, ScoreDetail
from forge.records.evaluate_artifacts import ArtifactRow, TemplateParity


def artifact_sha256(artifact: Artifact) -> str | None:
    """sha256 of a GGUF file, or of a merged folder's weights and config (combined)."""
    path = artifact.path
    if artifact.kind == "gguf":
        return sha256_file(path) if path.is_file() else None
    if artifact.kind == "merged":
        files = sorted(path.glob("*.safetensors")) + [path / "config.json"]
        if not all(f.is_file() for f in files):
            return None
        return hashlib.sha256("".join(f"{f.name}:{sha256_file(f)}\n" for f in files).encode()).hexdigest()
    return None


def score_artifact(val: Any, artifact: Artifact) -> tuple[ScoreDetail, TemplateParity]:
    """Score one merged or GGUF artifact on the val split and check its template (torch, llama.cpp)."""
    from forge.evaluate import parity as P
    from forge.evaluate.loaders import load_artifact
    from forge.evaluate.score import score_parts

    cfg = val.cfg
    loaded = load_artifact(cfg, artifact)
    try:
        items = P.sample_items(loaded.tokenizer, val.conversations, cfg.evaluation.generation_samples)
        if artifact.kind == "gguf":
            from forge.evaluate.artifacts import gguf_vocab

            vocab = gguf_vocab(artifact.path)
            try:
                parity = P.gguf_parity(vocab, items)
            finally:
                vocab.close()
        else:
            parity = P.merged_parity(str(artifact.path), items)
        scores = score_parts(
            loaded.tokenizer,
            val.conversations,
            loss=loaded.loss,
            generate=lambda prompts, where: loaded.generate(prompts, where, cfg.evaluation.max_new_tokens),
            max_seq_length=cfg.model.max_seq_length,
            generation_samples=cfg.evaluation.generation_samples,
        )
    finally:
        loaded.close()
    scores.update(template=loaded.template.name, device=loaded.device, precision=loaded.precision)
    return ScoreDetail.model_validate(scores), parity


def reusable_adapter(previous: EvaluationRecord | None, sha: str | None, now: Any, threshold: float) -> bool:
    """Whether `previous` scored this adapter on this val file with these settings (its adapter scores
    then stand: `--artifact gguf:q8_0` after `forge evaluate` scores only the GGUF)."""
    if previous is None or sha is None or (previous.adapter_fingerprint or {}).get("sha256") != sha:
        return False
    return (
        previous.scored_on.model_dump(exclude={"examples"}) == now.model_dump(exclude={"examples"})
        and previous.threshold == threshold
        and previous.fine_tuned_scores.val_loss is not None
    )


def add_rows(
    project: Any,
    record: EvaluationRecord,
    val: Any,
    artifacts: list[Artifact],
    *,
    previous: EvaluationRecord | None,
    carry: bool,
    say: Callable[[str], None] = lambda msg: None,
) -> None:
    """Set record.artifacts (the adapter's row, each artifact named, earlier rows still current) and
    the record's verdict: every row's."""
    base = record.baseline.headline()
    adapter = record.fine_tuned.headline()
    sha = (record.adapter_fingerprint or {}).get("sha256")
    common = dict(baseline=base, adapter=adapter, adapter_passed=record.passed, threshold=record.threshold)
    rows = [
        artifact_row(
            name="adapter",
            kind="adapter",
            path=record.adapter,
            gguf_type=None,
            scores=adapter,
            parity=None,
            adapter_sha256=sha,
            tool_calls=record.fine_tuned_scores.tool_calls,
            evaluated_at=record.created_at,
            **common,
        )
    ]
    done = {"adapter"}
    for a in artifacts:
        if a.kind == "adapter":
            continue
        say(f"scoring {a.name} ({project.rel(a.path)})")
        detail, parity = score_artifact(val, a)
        rows.append(
            artifact_row(
                name=a.name,
                kind=a.kind,
                path=project.rel(a.path),
                gguf_type=a.gguf_type,
                scores=detail.headline(),
                parity=parity,
                adapter_sha256=sha,
                file_sha256=artifact_sha256(a),
                tool_calls=detail.tool_calls,
                detail=detail.model_dump(mode="json"),
                evaluated_at=utcnow(),
                **common,
            )
        )
        done.add(a.name)
    if previous is not None and carry:
        rows += [r for r in previous.rows() if r.artifact not in done and _still_current(project, r, sha)]
    from forge.hints import name_folder

    for r in rows:  # their command hints name the project folder, absolute, as the gate's reasons do
        r.reasons = [name_folder(x, project.root, absolute=True) for x in r.reasons]
    record.artifacts = rows
    failed = [r for r in rows if not r.passed]
    record.passed = not failed
    record.verdict = "pass" if record.passed else "fail"
    record.reasons += [f"{r.artifact}: {why}" for r in failed if r.artifact != "adapter" for why in r.reasons[:1]]


def _still_current(project: Any, row: ArtifactRow, sha: str | None) -> bool:
    if row.kind == "adapter" or not row.path or row.adapter_sha256 != sha or not row.file_sha256:
        return False
    path = project.path(row.path) if not Path(row.path).is_absolute() else Path(row.path)
    return artifact_sha256(Artifact(row.artifact, row.kind, path, row.gguf_type)) == row.file_sha256
