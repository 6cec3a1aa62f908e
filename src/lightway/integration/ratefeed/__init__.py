"""Rate feeds behind one port: the ECB's daily reference rates, the regional feed (UGX, GHS,
RWF, ZMW), the CFA franc peg; their clients and simulators (docs/fx.md, "Feeds")."""
