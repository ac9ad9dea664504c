"""`forge demo`'s work: the built-in example project (setup.py) and the workflow's steps (steps.py).

The steps call the wings' functions (check, evaluate, train, export) and hand back what they
returned; the command (forge.commands.demo) prints. No step captures another verb's output.
"""
