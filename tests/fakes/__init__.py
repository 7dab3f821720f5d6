"""Fake exchanges for tests: stdlib HTTP servers that answer like the venues."""
