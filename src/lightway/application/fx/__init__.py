"""FX: rates per currency pair and pricing of cross-currency amounts (docs/fx.md)."""
