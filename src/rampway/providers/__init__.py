"""Providers: one normalized model over every wire format, plus the simulator and the catalog."""
