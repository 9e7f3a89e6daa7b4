"""GDPR retention: rules, legal holds, purge runs and the audit trail."""
