"""Scoring on the val split, the baseline and the gate."""
