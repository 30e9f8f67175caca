"""The consoles and JSON output, for commands that import them from here; everything
commands share is in `kit`."""

from consortium.cli.kit import JsonOption, console, err_console, print_json

__all__ = ["JsonOption", "console", "err_console", "print_json"]
