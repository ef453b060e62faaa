"""Fixture curves (CSV) and their descriptions (JSON); read them with :mod:`bnsl.fixtures`."""
