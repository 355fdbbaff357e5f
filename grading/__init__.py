"""Submissions, autograding and certificates (built by the grading issues)."""
