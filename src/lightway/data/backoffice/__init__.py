"""Back-office records: support notes on customers and maker-checker action requests."""
