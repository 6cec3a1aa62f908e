"""Settlement use cases (docs/settlement.md): windows and their close, instructions to the
LightWay Finance Settlement API and their confirmation, partner top-ups, statements and the
reconciliation of the bank's camt.053 against the instructions."""
