"""The consortium console: web pages for members' people, served by every node's API at
`/console` (same origin as the JSON-RPC, REST and WebSocket it reads; no separate indexer).

`console.app.console_mount` builds the sub-app the API mounts; `console.pages` gathers the
page modules' routes (overview, explorer, governance, services); templates are Jinja2 files
in `templates/`, our own browser code in `static/js/`, third-party browser code in
`static/vendor/` (downloaded by `scripts/vendor_console.py` from pinned npm tarballs, never
committed). Layers: the console sits beside the API and reads through its in-process
functions; nothing below the API imports it.
"""
