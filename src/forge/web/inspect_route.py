"""The Inspect section's endpoint: one example as training sees it (forge.train.inspect), read-only.

The tokenizer loads on the request (transformers, imported there and only there: the UI starts
without it); the images it names are served by the project-file route as thumbnails.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Query


def add_inspect_route(app: FastAPI, entry_or_404) -> None:
    @app.get("/api/projects/{project_id}/inspect", tags=["projects"])
    def inspect(
        project_id: str,
        split: str = Query("train", pattern="^(train|val)$"),
        example: int = Query(1, ge=1),
    ) -> dict[str, Any]:
        """One example: segments (trained, untrained, image), counts, token ids and labels, images;
        `ok: false` with the error and its fix where it cannot be shown (as `forge inspect --json`)."""
        from forge.config.verb_config import reader_config
        from forge.errors import ForgeError
        from forge.train.inspect import inspect_example

        p = entry_or_404(project_id).project
        try:
            view = inspect_example(p, reader_config(p), split, example)
        except ForgeError as e:
            return {"ok": False, "error": e.message, "fix": e.fix}
        return {"ok": True, **view.to_dict()}
