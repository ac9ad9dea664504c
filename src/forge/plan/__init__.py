"""plan: (config, model facts, data stats, hardware) -> every setting with its reason."""
