"""The console mounted under /console: the pages (`console.pages`), the node sign-in form,
static files, and the 404 page for everything else. The API's `create_app` calls this."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import Mount, Router
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from consortium.console.app import PREFIX, STATIC, Console, ConsoleRpcError, log, login_routes
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
    router = Router(routes=routes, default=not_found)

    async def pages(scope: Scope, receive: Receive, send: Send) -> None:
        """A page whose reads fail (the node busy, an engine restarting) is an error page
        saying so, never a trace; a failure after the answer started is only logged."""
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await router(scope, receive, watch)
        except HTTPException as exc:  # StaticFiles' missing file
            if exc.status_code != 404 or started:
                raise
            await not_found(scope, receive, send)
        except Exception as exc:
            if scope["type"] != "http" or started:
                raise
            log.exception("console page %s failed", scope.get("path"))
            message = exc.message if isinstance(exc, ConsoleRpcError) else type(exc).__name__
            response = console.page(Request(scope, receive), "error.html", status=503,
                                    message=message)
            await response(scope, receive, send)

    return Mount(PREFIX, app=pages)
