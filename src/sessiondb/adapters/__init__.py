"""Drop-in integrations with agent frameworks.

Each submodule imports its framework lazily: importing ``sessiondb`` or
``sessiondb.adapters`` never imports a framework, and importing an adapter
whose framework is missing raises ``sessiondb.ConfigurationError`` naming the
pip extra to install.
"""
