"""CSV import of customers and invoices from the ERP (admin upload, CLI and API)."""
