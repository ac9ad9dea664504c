"""Reading and checking chat datasets (torch-free)."""

from forge.data.load import load_conversations, load_split
from forge.data.reader import DataError

__all__ = ["DataError", "load_conversations", "load_split"]
