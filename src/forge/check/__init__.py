"""The two checklists: before training (before.py) and of the outputs (outputs.py)."""
