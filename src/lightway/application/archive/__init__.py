"""Monthly partitions and archival of closed months (see service.py)."""
