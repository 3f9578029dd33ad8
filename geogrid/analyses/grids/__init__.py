"""Governance grids: atoms, balanced partition, certificates and quality."""
