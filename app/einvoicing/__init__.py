"""E-invoicing: Peppol BIS Billing 3.0 documents out (credit notes) and in (invoices, responses)."""
