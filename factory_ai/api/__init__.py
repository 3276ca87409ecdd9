"""The daemon's HTTP API (FastAPI): ``create_app(daemon)``; served by ``factory-ai run``."""
