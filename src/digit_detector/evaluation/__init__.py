"""Evaluation: predictions and matching, the report, breakdowns, threshold choice, report files."""
