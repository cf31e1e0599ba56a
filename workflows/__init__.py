"""Workflows: the only place that decides what a crew run does next."""
