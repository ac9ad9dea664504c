"""The order of a conversation's turns, after role normalisation: who may follow whom."""

from __future__ import annotations


def check_structure(messages: list[dict[str, str]], src: list[tuple[int, str]] | None = None) -> list[tuple[str, str]]:
    """Problems with the order of turns (after role normalisation); at most one per kind."""
    roles = [m["role"] for m in messages]
    body_roles = roles[1:] if roles and roles[0] == "system" else roles
    half = len(body_roles) // 2
    if (
        body_roles
        and len(body_roles) % 2 == 0
        and body_roles[0::2].count("user") == half
        and body_roles[1::2].count("assistant") == half
    ):
        return []  # the common case: user/assistant pairs, at most a leading system turn
    if src is None:
        src = [(i + 1, m["role"]) for i, m in enumerate(messages)]
    found: dict[str, list[str]] = {}

    def add(kind: str, msg: str) -> None:
        found.setdefault(kind, []).append(msg)

    def turn(i: int) -> str:
        n, role = src[i]
        return f"turn {n} ({role})" if n else f"the {role}"

    start = 1 if messages and messages[0]["role"] == "system" else 0
    for i in range(start, len(messages)):
        if messages[i]["role"] == "system":
            add("misplaced_system", f"{turn(i)}: a system turn may only come first")
    body = [(i, m["role"]) for i, m in enumerate(messages) if i >= start and m["role"] != "system"]
    if not any(r == "assistant" for _, r in body):
        add("no_assistant", "no assistant turn (gpt/assistant): there is nothing to learn from")
    else:
        if body[0][1] != "user":
            add(
                "not_alternating", f"{turn(body[0][0])} comes before any user turn: a conversation starts with the user"
            )
        if body[-1][1] != "assistant":
            add(
                "last_not_assistant",
                f"the last turn, {turn(body[-1][0])}, is not the assistant's: end each conversation with an answer",
            )
        for (i, a), (j, b) in zip(body, body[1:], strict=False):
            if b == "tool":
                if a not in ("assistant", "tool"):
                    add("not_alternating", f"{turn(j)} does not follow an assistant/function_call turn")
            elif a == b or (a == "tool" and b == "user"):
                add("not_alternating", f"{turn(i)} and {turn(j)} are both {_side(a)} turns: turns must alternate")
    out = []
    for kind, msgs in found.items():
        more = f" (and {len(msgs) - 1} more)" if len(msgs) > 1 else ""
        out.append((kind, msgs[0] + more))
    return out


def _side(role: str) -> str:
    return "user-side" if role in ("user", "tool") else role
