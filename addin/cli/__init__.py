"""The ``portal`` command (``app``), one module per command group; ``output`` holds what every
command shares (consoles, progress bars, the database, how a run is told)."""
