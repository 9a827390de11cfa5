"""klapper: publishes social-media posts kept as YAML files in a git repository."""

__version__ = "0.1.0"
