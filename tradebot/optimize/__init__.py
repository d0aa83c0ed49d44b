"""Parameter optimization (``tradebot optimize``): search, walk-forward windows and overfitting statistics."""
