"""The operator web console, served by the daemon at ``/``.

Pages are rendered on the server (Jinja2 templates) and charts are inline SVG drawn by the
report's own chart code, so the console needs no JavaScript build, no CDN and no network
beyond the daemon: plant networks are often offline. A little plain JavaScript updates the
line view live (server-sent events) and sends operators' actions (labels, flags,
acknowledgements), which need the same token as the API, given once at ``/login``.

Modules: ``config`` (the ``[console]`` section), ``auth`` (the login cookie), ``views`` (what
each page shows, read from the store), ``routes`` (pages, images, the event stream, actions).
"""

from factory_ai.console.routes import mount

__all__ = ["mount"]
