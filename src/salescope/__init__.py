"""Salescope: sales intelligence for consumer-goods manufacturers and distributors."""

__version__ = "0.1.0"
