"""A shopping-cart example of SessionDB web sessions (see README.md)."""

from .app import create_app

__all__ = ["create_app"]
