"""The test suite (a package, so that tests/functions never shadows the functions/ folder)."""
