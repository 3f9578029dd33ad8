"""Analyses over a study area: coverage, governance grids and station siting."""
