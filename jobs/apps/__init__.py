"""Spark applications that ship with the project (submitted as files, not imported)."""
