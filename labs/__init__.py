"""Hands-on labs in JupyterHub (built by the labs issue)."""
