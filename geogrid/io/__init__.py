"""Reading inputs and writing outputs: vector and table files, OSM extracts, atomic writes, run folders."""
