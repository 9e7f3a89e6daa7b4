"""Customers: people and companies we invoice, their contacts, addresses, accounts, mandates."""
