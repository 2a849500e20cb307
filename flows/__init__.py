"""Prefect flows: they wire tuneline's stages together and compute nothing themselves."""
