"""Typed records of a run and their JSON codec."""
