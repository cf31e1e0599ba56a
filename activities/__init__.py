"""All I/O of a crew run: executing tasks and delivering webhooks."""
