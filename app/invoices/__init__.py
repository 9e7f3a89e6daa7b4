"""Invoices and credit notes: what customers owe, their references and PDFs."""
