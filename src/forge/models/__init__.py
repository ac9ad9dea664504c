"""Model facts, chat templates and the built-in models (torch only inside the loaders)."""
