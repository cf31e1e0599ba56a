"""The thin HTTP API: validate, translate to one Temporal call, map the answer to HTTP."""
