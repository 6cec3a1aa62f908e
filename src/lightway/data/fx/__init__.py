"""FX rates per currency pair (docs/fx.md)."""
