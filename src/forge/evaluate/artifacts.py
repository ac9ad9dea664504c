"""Which artifacts `forge evaluate --artifact` and `forge chat --artifact` mean, where they are, and
whether they were made from the adapter there now (torch-free; llama.cpp only to read a GGUF's keys).

    adapter      the LoRA adapter on its base model (the default)
    merged       the merged 16-bit folder (save.merged_path, else models/checkpoints/merged)
    gguf:TYPE    the GGUF of that type in the GGUF folder (gguf:q8_0, gguf:q4_k_m)
    all          the adapter and every artifact exported (chat takes one artifact, not `all`)

Provenance: `forge export` marks each artifact with the fingerprint of the adapter it was made from
(forge.records.export: the merged folder's forge-provenance.json, a GGUF's `forge.adapter_sha256`).
An artifact without the mark, or with another adapter's, is refused (exit 1) before anything is
scored: a GGUF of another project or of an earlier adapter copied into place would be gated against a
baseline and a training it has nothing to do with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from forge.config.gguf_types import parse_gguf_types
from forge.errors import EXIT_FAIL, EXIT_USAGE, ForgeError
from forge.project import Project

ARTIFACT_HELP = "adapter (default), merged, gguf:TYPE (e.g. gguf:q8_0), or all"
REEXPORT = "run `forge export` again (it remakes the artifacts from the adapter there now)"


@dataclass(frozen=True)
class Artifact:
    name: str  # "adapter", "merged", "gguf:q8_0"
    kind: str  # "adapter", "merged", "gguf"
    path: Path
    gguf_type: str | None = None


ONE_ARTIFACT_HELP = "adapter (default), merged or gguf:TYPE (e.g. gguf:q8_0)"


def parse_artifact(spec: str | None, *, one: bool = False) -> list[str]:
    """'gguf:Q8_0' -> ['gguf:q8_0']; 'all' -> ['all']; a bad name: ForgeError (exit 2). one: the
    caller takes a single artifact (forge chat), so `all` and several GGUF types are bad names too."""
    text = (spec or "adapter").strip().lower()
    names = None
    if text in ("adapter", "merged", "all"):
        names = [text]
    elif text.startswith("gguf:"):
        types = parse_gguf_types(text.removeprefix("gguf:"), where="--artifact gguf:TYPE")
        names = [f"gguf:{t}" for t in types]
    if names and not (one and (names == ["all"] or len(names) != 1)):
        return names
    raise ForgeError(
        f"--artifact {spec!r} is not an artifact name" + (" (one artifact is talked to at a time)" if names else ""),
        fix=f"use one of: {ONE_ARTIFACT_HELP if one else ARTIFACT_HELP}",
        exit_code=EXIT_USAGE,
        kind="usage",
    )


def gguf_files(folder: Path) -> dict[str, Path]:
    """type -> file of the GGUFs `forge export` names `<model>-<TYPE>.gguf` (mmproj files left out)."""
    out: dict[str, Path] = {}
    for f in sorted(folder.glob("*.gguf")) if folder.is_dir() else []:
        if f.name.startswith("mmproj-") or "-" not in f.stem:
            continue
        out.setdefault(f.stem.rsplit("-", 1)[1].lower(), f)
    return out


def locate(project: Project, cfg, names: list[str]) -> list[Artifact]:
    """The artifacts named, found on disk; `all`: the adapter and every exported one. ForgeError
    (exit 1, kind artifact_missing) naming the export to run for one that is not there."""
    out = project.outputs(cfg)
    ggufs = gguf_files(out.gguf)
    if names == ["all"]:
        found = [Artifact("adapter", "adapter", out.lora)]
        if (out.merged / "config.json").is_file():
            found.append(Artifact("merged", "merged", out.merged))
        found += [Artifact(f"gguf:{t}", "gguf", p, t) for t, p in sorted(ggufs.items())]
        return found
    found = []
    for name in names:
        if name == "adapter":
            found.append(Artifact("adapter", "adapter", out.lora))
        elif name == "merged":
            if not (out.merged / "config.json").is_file():
                raise _missing(project, out.merged, "`forge export --merged`")
            found.append(Artifact("merged", "merged", out.merged))
        else:
            t = name.split(":", 1)[1]
            if t not in ggufs:
                have = ", ".join(f"gguf:{k}" for k in sorted(ggufs)) or "none"
                raise _missing(
                    project, out.gguf / f"*-{t.upper()}.gguf", f"`forge export --gguf {t}` (exported now: {have})"
                )
            found.append(Artifact(name, "gguf", ggufs[t], t))
    return found


def _missing(project: Project, path: Path, how: str) -> ForgeError:
    return ForgeError(
        f"{project.rel(path)} not found: there is no such artifact to evaluate",
        fix=f"make it with {how}",
        exit_code=EXIT_FAIL,
        kind="artifact_missing",
    )


def made_from(artifact: Artifact) -> str | None:
    """The adapter fingerprint the artifact carries (None: no mark, not made by `forge export`)."""
    from forge.records.export import GGUF_ADAPTER_KEY, PROVENANCE_FILE

    if artifact.kind == "merged":
        try:
            data = json.loads((artifact.path / PROVENANCE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        sha = data.get("adapter_sha256") if isinstance(data, dict) else None
        return sha if isinstance(sha, str) else None
    if artifact.kind == "gguf":
        return gguf_metadata(artifact.path).get(GGUF_ADAPTER_KEY)
    return None


def gguf_metadata(path: Path) -> dict[str, str]:
    """A GGUF's metadata as llama.cpp reads it (vocabulary only, no weights: fast for any size)."""
    model = gguf_vocab(path)
    try:
        return dict(model.metadata())
    finally:
        model.close()


def gguf_vocab(path: Path):
    """llama.cpp's model object of a GGUF with its vocabulary and metadata only (no weights, no context):
    its metadata(), token_bos/eos() and token_get_text(), as llama-cpp-python's Llama reads them."""
    llama_cpp = need_llama_cpp()
    from llama_cpp._internals import LlamaModel

    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    try:
        return LlamaModel(path_model=str(path), params=params, verbose=False)
    except ValueError as e:
        raise ForgeError(
            f"{path}: llama.cpp cannot read this GGUF ({e})",
            fix=REEXPORT,
            exit_code=EXIT_FAIL,
            kind="artifact_corrupt",
        ) from None


def need_llama_cpp():
    try:
        import llama_cpp
    except Exception as e:
        raise ForgeError(
            f"scoring a GGUF needs llama-cpp-python ({type(e).__name__}: {e})",
            fix="pip install 'factory-forge[export]'",
            exit_code=EXIT_FAIL,
            kind="export_dependency",
        ) from None
    return llama_cpp


def check_provenance(project: Project, artifacts: list[Artifact], adapter_sha: str | None) -> None:
    """Refuse (exit 1, kind artifact_provenance) every artifact not made from the adapter there now,
    all of them named at once, before anything is scored."""
    problems = []
    for a in artifacts:
        if a.kind == "adapter":
            continue
        sha = made_from(a)
        if sha is None:
            problems.append(f"{project.rel(a.path)} carries no forge export mark: not made by `forge export`")
        elif sha != adapter_sha:
            now = adapter_sha[:12] if adapter_sha else "none"
            problems.append(f"{project.rel(a.path)} was made from adapter {sha[:12]}, the adapter now is {now}")
    if problems:
        raise ForgeError(
            "not made from the current adapter, so not scored:\n  - " + "\n  - ".join(problems),
            fix=REEXPORT,
            exit_code=EXIT_FAIL,
            kind="artifact_provenance",
        )
