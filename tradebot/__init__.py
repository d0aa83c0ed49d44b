"""tradebot: crypto trading research and operation from one engine."""

__version__ = "0.1.0"
