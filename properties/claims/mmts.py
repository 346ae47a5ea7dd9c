"""Placeholder until written."""
CLAIMS = []
