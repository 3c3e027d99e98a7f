"""The CPU demo worlds (``ric demo``): small datasets, tiny base models, RiC through the real code paths."""
