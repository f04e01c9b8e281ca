"""One module per search algorithm behind the interface in ``base``."""
