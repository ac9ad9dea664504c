"""`forge chat`'s work: one artifact loaded as `forge evaluate` loads it, answering a conversation.

The artifact is found and checked as evaluate checks it (forge.evaluate.artifacts: an adapter fit
for the configured base, an export made from that adapter), then loaded by the same loader
(forge.evaluate.loaders): training's chat template renders the conversation (a --system text and
the turns so far, mapped to the template's roles as in training), and greedy decoding stops at the
artifact's own stop tokens. Torch and llama.cpp are imported inside the loader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from forge.evaluate.artifacts import check_provenance, locate, parse_artifact
from forge.project import Project


@dataclass
class ChatSession:
    loaded: Any  # forge.evaluate.loaders.Loaded
    max_new_tokens: int
    history: list[dict] = field(default_factory=list)

    def ask(self, text: str) -> str:
        """Answer the next user turn; the exchange joins the history (multi-turn)."""
        self.history.append({"role": "user", "content": text})
        answer = self.loaded.generate([list(self.history)], None, self.max_new_tokens)[0]
        self.history.append({"role": "assistant", "content": answer})
        return answer

    def describe(self) -> dict[str, Any]:
        a = self.loaded.artifact
        return {
            "artifact": a.name,
            "path": str(a.path),
            "template": self.loaded.template.name,
            "stops": self.loaded.stops,
            "precision": self.loaded.precision,
        }


def open_chat(
    project: Project, cfg: Any, artifact: str | None, *, system: str | None = None, max_new_tokens: int | None = None
) -> ChatSession:
    from forge.evaluate.adapter import check_adapter
    from forge.evaluate.loaders import load_artifact

    names = parse_artifact(artifact, one=True)
    out = project.outputs(cfg)
    fingerprint = check_adapter(project, out.lora, cfg.model.name)
    chosen = locate(project, cfg, names)
    check_provenance(project, chosen, fingerprint.get("sha256"))
    session = ChatSession(load_artifact(cfg, chosen[0]), max_new_tokens or cfg.evaluation.max_new_tokens)
    if system:
        session.history.append({"role": "system", "content": system})
    return session
