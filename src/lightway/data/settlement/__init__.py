"""Settlement: windows per market, the position deltas the database adds as payments post,
positions and instructions per window, bank notifications and statements (docs/settlement.md)."""
