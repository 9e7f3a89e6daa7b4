"""Dunning: policies and levels staff configure, the daily run, and what it did."""
from app.dunning import rules  # noqa: F401  (declares the dunning settings)
