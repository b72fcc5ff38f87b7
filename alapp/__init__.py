"""alapp: desktop text labeling with active learning, fully offline."""

__version__ = "0.1.0"
