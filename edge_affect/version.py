"""The package version: written into every log header and model report."""

__version__ = "0.1.0"
