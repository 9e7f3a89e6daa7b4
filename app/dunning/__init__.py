"""Dunning: policies and levels staff configure, the daily run, and what it did."""
