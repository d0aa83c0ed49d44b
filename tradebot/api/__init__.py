"""HTTP API (FastAPI) over the existing services; only ``tradebot.cli`` imports this package."""
