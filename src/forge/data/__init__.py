"""Reading and checking chat datasets (torch-free)."""

from forge.data.reader import DataError, load_conversations

__all__ = ["DataError", "load_conversations"]
