"""forge: the training runner of a Data Factory project."""

__version__ = "0.1.0"
