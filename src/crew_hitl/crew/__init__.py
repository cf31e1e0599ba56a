"""The shared vocabulary: crew specs, messages, settings. Imports nothing else of the project."""
