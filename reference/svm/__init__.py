"""Certified hard-margin SVMs of attention (arXiv 2308.16898 Eqs. (Att-SVM), (Att-SVM*)):
constraints, certificates, Frobenius, nuclear, (K,Q), prompt, multi-token, token optimality."""
