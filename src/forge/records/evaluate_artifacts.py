"""One row of metrics/evaluation.json per artifact evaluated (torch-free).

`forge evaluate --artifact adapter|merged|gguf:TYPE|all` scores what a user ships, not only the
adapter on its base: the merged 16-bit folder (transformers, vLLM) and each GGUF (llama.cpp,
Ollama). Every row carries the same scores as the adapter's, its change against the baseline and
its own gate verdict at the adapter's threshold; a GGUF or merged row also says whether its own
chat template renders the generation sample's prompts as training did (`template_parity`) and,
where its val loss is worse than the adapter's, how much of the adapter's gain it lost.

Rows are keyed by `artifact`: "adapter", "merged", "gguf:q8_0" (lower case, as --artifact takes it).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())


class TemplateParity(_Open):
    """Whether the artifact's own chat template renders the sample's prompts as training did."""

    ok: bool
    source: str  # where the template was read: "GGUF metadata tokenizer.chat_template", a file
    prompts: int = 0  # prompts compared
    detail: str = ""  # on a difference: the example, its position and the first differing characters


class ArtifactRow(_Open):
    artifact: str  # "adapter", "merged", "gguf:q8_0"
    kind: Literal["adapter", "merged", "gguf"]
    path: str | None = None  # project-relative where inside the project
    gguf_type: str | None = None  # "q8_0" for a GGUF row
    # the adapter the artifact was made from (the export's provenance mark), and the artifact's own
    # files' sha256: a row is carried to a later evaluation only while both are unchanged
    adapter_sha256: str | None = None
    file_sha256: str | None = None
    scores: dict[str, float | None] = Field(default_factory=dict)  # the four headline scores
    deltas: dict[str, float | None] = Field(default_factory=dict)  # against the baseline
    relative_improvement: float | None = None  # of val loss against the baseline, as the gate reads it
    # the share of the adapter's val-loss gain this artifact lost: (loss - adapter) / (baseline - adapter);
    # 0 for the adapter itself, negative where the artifact scored better; None where there was no gain
    gain_lost: float | None = None
    passed: bool
    verdict: Literal["pass", "fail"]
    reasons: list[str] = Field(default_factory=list)
    checks: list[str] = Field(default_factory=list)
    suggestion: str | None = None  # which export to try instead, where a quantization lost the gain
    template_parity: TemplateParity | None = None
    tool_calls: dict[str, Any] | None = None  # forge.evaluate.toolcalls scores, where val holds tool calls
    detail: dict[str, Any] = Field(default_factory=dict)  # the whole pass (ScoreDetail's keys), samples included
    evaluated_at: str | None = None

    def summary(self) -> dict[str, Any]:
        """The row without the per-sample detail (the verbs' --json, the web UI)."""
        return {k: v for k, v in self.model_dump(mode="json").items() if k != "detail"}
