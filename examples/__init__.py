"""Example job specs, the sample data and the script that makes it."""
