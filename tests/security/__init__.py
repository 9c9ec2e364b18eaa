"""Hostile input: each test reproduces an attack through the real path and asserts its outcome."""
