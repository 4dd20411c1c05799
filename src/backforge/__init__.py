"""backforge: a backend developer in a box."""

__version__ = "0.1.0"


def __getattr__(name: str):
    # Imported lazily so that `backforge.spec` and the CLI start without the web stack.
    if name == "App":
        from .app import App

        return App
    raise AttributeError(name)
