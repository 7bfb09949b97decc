"""Shared test configuration: fixture plugins are registered in pyproject (addopts -p)."""
