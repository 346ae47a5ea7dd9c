"""attnsvm package."""
