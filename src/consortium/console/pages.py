"""The console's pages, gathered in one list: each page module has
`routes(console) -> list[BaseRoute]` (paths relative to /console). A module that is not
there yet (governance, services and forum are built beside this one) is skipped, so the
console runs with whatever pages exist; the nav links to all of them."""

from __future__ import annotations

import importlib

from starlette.routing import BaseRoute

from consortium.console.app import Console

PAGE_MODULES = ("overview", "explorer", "governance", "services", "forum", "securities",
                "invoices", "credit", "registry", "csv_export")


def page_routes(console: Console) -> list[BaseRoute]:
    routes: list[BaseRoute] = []
    for name in PAGE_MODULES:
        qualified = f"consortium.console.{name}"
        try:
            module = importlib.import_module(qualified)
        except ModuleNotFoundError as exc:
            if exc.name != qualified:  # a module that is there but fails to import: say so
                raise
            continue
        routes.extend(module.routes(console))
    return routes
