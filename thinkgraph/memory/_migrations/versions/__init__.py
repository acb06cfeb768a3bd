"""Revisions, linear: each names the previous one as ``down_revision``."""
