"""nbplane: a self-hostable notebook data plane serving the AIDP Workbench Notebook API."""

__version__ = "0.1.0"
