"""The dev runner: `make run` starts the Temporal dev server, the worker and the API."""
