"""Related equivalences: fast weights (arXiv 2102.11174), random features (arXiv 2009.14794),
logistic regression (arXiv 1710.10345), policy gradient vs sequence training."""
