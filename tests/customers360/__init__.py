"""The 360° customer view, search, aging, risk signals, welcome check and work queues."""
