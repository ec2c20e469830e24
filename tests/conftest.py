"""Shared test fixtures; device fixtures live in their own plugin modules."""

pytest_plugins = ["tests.pcsc_fixture"]
