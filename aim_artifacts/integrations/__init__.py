"""Integrations with other tools: each in its own module, imported by name (``[extra]``)."""
