"""Scoring on the val split, the baseline and the gate (torch only inside the functions that score).

score.py       the scores: val loss and perplexity with training's masking; token F1 / exact match
baseline.py    `forge baseline`: the val split, a score set's identity, metrics/baseline.json
evaluation.py  `forge evaluate`: the adapter against the baseline, metrics/evaluation.json
gate.py        the verdict on plain numbers
"""
