"""sdwh: an open statistical data warehouse with secure remote access."""

__version__ = "0.1.0"
