"""deployer: serve Jetty-style XML context descriptors as Python webapps."""

__version__ = "0.1.0"
