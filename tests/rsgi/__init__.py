"""End-to-end tests of the RSGI interface under a real granian."""
