"""Analytics rollups: transaction rates, provider errors, latency histograms and queue depth
per minute, hour and day (docs/architecture.md, "Analytics")."""
