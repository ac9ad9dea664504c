"""`forge train`: the training run (the recipe in recipe.py; backends in backends/).

The recipe and what it calls import the ML stack only inside functions, so importing this
package (as the CLI and the web UI do) stays fast. The entry is forge.train.recipe.train.
"""
