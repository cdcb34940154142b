"""Plots and printable reports, rendered from frames (matplotlib, no display needed)."""
