"""Analyses over records: summaries, scaling laws, what-if, training, fit, budgets."""
