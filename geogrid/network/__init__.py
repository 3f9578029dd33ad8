"""The walking network: building it from OSM ways or GraphML, snapping points, path kernels."""
