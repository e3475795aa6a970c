"""Helpers shared by the tests; the tests reach them through ``tests/conftest.py``'s fixtures."""
