"""The package version, in a module of its own so that modules inside the package (the CLI's
`--version`, the checkpoint writer) can read it without importing `robusteye` itself."""

__version__ = "0.1.0"
