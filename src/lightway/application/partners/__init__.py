"""Partner (IMTO) use cases: API keys now; partner transfers come with the MoMo work."""
