"""Placeholder until written."""

CLAIMS = []
