"""Reports across customers: aging buckets, DSO and its trend (charts drawn server-side)."""
