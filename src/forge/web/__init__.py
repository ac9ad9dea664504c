"""The Forge Web UI (read-only, torch-free). `forge.web.app.create_app` builds the FastAPI app."""
