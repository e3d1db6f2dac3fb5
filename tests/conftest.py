"""Suite-wide pytest configuration; fixtures live in plugin modules listed here."""

pytest_plugins = ["tests.services"]
