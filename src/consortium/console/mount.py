"""The console mounted under /console: the pages (`console.pages`), the node sign-in form,
static files, and the 404 page for everything else. The API's `create_app` calls this."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Mount, Router
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from consortium.console.app import PREFIX, STATIC, Console, login_routes
from consortium.console.pages import page_routes


def console_mount(console: Console) -> Mount:
    """The console's routes under /console: the pages, the sign-in form, static files,
    and the 404 page for everything else."""
    async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
        response = console.not_found(Request(scope, receive), what="page",
                                     searched=scope.get("path", ""))
        await response(scope, receive, send)

    routes = [*page_routes(console), *login_routes(console),
              Mount("/static", app=StaticFiles(directory=STATIC, check_dir=False),
                    name="static")]
    return Mount(PREFIX, app=Router(routes=routes, default=not_found))
