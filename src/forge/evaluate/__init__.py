"""Scoring on the val split, the baseline and the gate (torch only inside the functions that score).

score.py          the scores: val loss and perplexity with training's masking; token F1 / exact match
baseline.py       `forge baseline`: the val split, a score set's identity, metrics/baseline.json
evaluation.py     `forge evaluate`: the adapter (and artifacts) against the baseline, metrics/evaluation.json
gate.py           the verdict on plain numbers
artifacts.py      --artifact names, where each artifact is, and whether it was made from the adapter there now
loaders.py        the one loader of an artifact (adapter, merged, GGUF) that evaluate and chat share
artifact_eval.py  the per-artifact rows of evaluation.json; artifact_gate.py: each row's own gate
parity.py         template parity: the artifact's own chat template against training's rendering
toolcalls.py      tool-call scores (valid JSON, function name, exact arguments)
chat.py           `forge chat`: one artifact answering a conversation
"""
