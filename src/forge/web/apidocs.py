"""`GET /docs`: the JSON API as one plain HTML page rendered from the app's OpenAPI spec.

FastAPI's own /docs is Swagger UI loaded from a CDN, blank on a machine without network (where
forge often runs). This page needs nothing but the server: every route with its parameters and
the schema it answers with; /openapi.json stays the machine-readable form.
"""

from __future__ import annotations

from html import escape
from typing import Any


def _ref_name(schema: dict[str, Any] | None) -> str:
    if not isinstance(schema, dict):
        return ""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if schema.get("type") == "array":
        inner = _ref_name(schema.get("items"))
        return f"list of {inner}" if inner else "list"
    return schema.get("type", "")


def _operation(path: str, method: str, op: dict[str, Any]) -> str:
    rows = []
    for p in op.get("parameters") or []:
        schema = p.get("schema") or {}
        kind = schema.get("type") or _ref_name(schema) or ""
        default = f", default {schema['default']!r}" if "default" in schema else ""
        rows.append(
            f"<li><code>{escape(p.get('name', ''))}</code> ({escape(p.get('in', ''))}, {escape(str(kind))}"
            f"{escape(default)}){': ' + escape(p['description']) if p.get('description') else ''}</li>"
        )
    ok = (op.get("responses") or {}).get("200", {})
    content = ok.get("content") or {}
    answers = ", ".join(
        f"{escape(media)}{' ' + escape(_ref_name(c.get('schema'))) if _ref_name(c.get('schema')) else ''}"
        for media, c in content.items()
    )
    text = op.get("description") or op.get("summary") or ""
    return (
        f'<section id="{escape(method + path)}"><h3><code>{escape(method.upper())} {escape(path)}</code></h3>'
        + (f"<p>{escape(text)}</p>" if text else "")
        + (f"<ul>{''.join(rows)}</ul>" if rows else "")
        + (f"<p>answers: {answers}</p>" if answers else "")
        + "</section>"
    )


def _schema(name: str, schema: dict[str, Any]) -> str:
    props = schema.get("properties") or {}
    items = "".join(
        f"<li><code>{escape(k)}</code>: {escape(_ref_name(v) or str(v.get('anyOf', '')) or '')}</li>"
        for k, v in props.items()
    )
    return f'<section id="schema-{escape(name)}"><h3>{escape(name)}</h3><ul>{items}</ul></section>'


def render(spec: dict[str, Any]) -> str:
    info = spec.get("info") or {}
    ops = [
        _operation(path, method, op)
        for path, methods in (spec.get("paths") or {}).items()
        for method, op in methods.items()
        if isinstance(op, dict)
    ]
    schemas = [_schema(n, s) for n, s in ((spec.get("components") or {}).get("schemas") or {}).items()]
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>"
        + escape(str(info.get("title", "API")))
        + " API</title><style>body{font:14px system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
        "code{background:#f3f3f3;padding:0 .2em}section{border-top:1px solid #ddd;padding:.4em 0}</style>"
        "</head><body>"
        f"<h1>{escape(str(info.get('title', 'API')))} {escape(str(info.get('version', '')))}</h1>"
        f"<p>{escape(str(info.get('description', '')))} Machine-readable: <a href='/openapi.json'>/openapi.json</a>."
        "</p><h2>Routes</h2>" + "".join(ops) + "<h2>Schemas</h2>" + "".join(schemas) + "</body></html>"
    )
