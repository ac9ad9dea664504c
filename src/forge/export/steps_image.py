"""The export step that asks llama.cpp about a picture (a VLM with a GGUF and its mmproj).

verify_gguf -> image_answer -> keep_gguf: each GGUF type with the mmproj, against the merged
model's answer that steps_model.verify_merged recorded (job.image_ref); the check itself is
forge.export.verify_image_answer. A failure removes the GGUF files with the others of the set.
"""

from __future__ import annotations

from forge.export.job import ExportJob
from forge.export.steps_model import fail_on_checks
from forge.export.verify_image_answer import image_answer_check


def image_answer(job: ExportJob) -> None:
    if job.mmproj_tmp is None or job.image_ref is None or not job.gguf_tmp:
        return
    for t, path in job.gguf_tmp.items():
        job.say(f"asking {t.upper()} + mmproj about a picture (llama.cpp)")
        c = job.check(image_answer_check(path, job.mmproj_tmp, t, job.image_ref), f"GGUF {t.upper()}")
        if c["ok"] is None:  # skipped: the same reason holds for every type
            break
    fail_on_checks(job)
