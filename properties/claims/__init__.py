"""Claim records, one module per source: TF-SVM, MMTS, symbolic/numeric agreement, related work."""
