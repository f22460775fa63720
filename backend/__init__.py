"""artsnap: visual search for art and cultural heritage."""

__version__ = "0.1.0"
