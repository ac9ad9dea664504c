"""A verb's answer as an MCP tool result (torch-free).

The result's text and structured content are the verb's `--json` document, key for key; its
`_meta.exit_code` is the code the verb exits with on the command line (1 for a checklist not
ready, 3 for a failed gate: answers, not errors). A refusal (the verb's `--json` error object:
`ok: false` with `error`, `fix`, `kind` and `exit_code`) is a tool error carrying that object, so a
client sees what went wrong and the fix, and the server goes on serving.
"""

from __future__ import annotations

import json
from typing import Any

from forge.errors import ForgeError


def tool_result(doc: Any, exit_code: int = 0):
    from mcp.types import CallToolResult, TextContent

    text = json.dumps(doc, indent=2, default=str)
    structured = json.loads(text) if isinstance(doc, dict) else {"result": json.loads(text)}
    is_error = isinstance(doc, dict) and doc.get("ok") is False and "error" in doc
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=structured,
        is_error=is_error,
        _meta={"exit_code": exit_code},
    )


def error_result(e: ForgeError, root=None):
    """A ForgeError as the tool error `forge VERB --json` prints (forge.commands.console.error_document)."""
    from forge.commands.console import error_document
    from forge.hints import name_folder

    if root is not None:
        e.fix = name_folder(e.fix, root, absolute=True)  # the client runs no shell in our folder
    doc = error_document(e)
    return tool_result(doc, doc["exit_code"])
