"""Reading and checking chat datasets (torch-free)."""

from forge.data.load import load_conversations, load_split
from forge.data.reader import DataError
from forge.data.validate import Conversations

__all__ = ["Conversations", "DataError", "load_conversations", "load_split"]
