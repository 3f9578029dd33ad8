"""The study area: network, demand, facilities and communities, prepared once and shared."""
