"""The console's routes on the daemon's FastAPI app: pages, images, the live stream, actions.

Pages read the store through ``views`` and render templates. Actions (label, flag,
acknowledge, resolve) need the login cookie and go through the same functions as the API's
POST endpoints, so a label given here is the label the retrain job trains on.
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Cookie, FastAPI, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from factory_ai.api import store_access
from factory_ai.api.plant import Plant
from factory_ai.console import auth, views

HERE = Path(__file__).parent
PAGES = [("/", "Line"), ("/review", "Review"), ("/assets", "Assets"), ("/alerts", "Alerts"), ("/models", "Models & jobs")]


class LabelBody(BaseModel):
    label: str = Field(min_length=1, max_length=200)


class FlagBody(BaseModel):
    id: int | None = None
    seq: int | None = None


def mount(app: FastAPI, daemon: Plant) -> None:
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters["pct"] = lambda v, digits=1: "–" if v is None else f"{v:.{digits}%}"
    templates.env.filters["num"] = lambda v, fmt=".1f": "–" if v is None else format(v, fmt)
    templates.env.filters["when"] = lambda v: "–" if v is None else f"{v:%Y-%m-%d %H:%M}"
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
    settings = daemon.settings
    console = settings.console

    def read(fn, *args):  # noqa: ANN001, ANN202
        return store_access.read(daemon.store, fn, *args)

    def page(request: Request, template: str, session_cookie: str | None, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, template, {
            "pages": PAGES, "path": request.url.path, "logged_in": auth.logged_in(session_cookie, settings.api.token),
            "writes_enabled": bool(settings.api.token), **context})

    def with_images(card: dict[str, Any]) -> dict[str, Any]:
        """Where the card's picture comes from: the daemon's memory (with the heatmap overlay),
        the kept copy on disk, or nowhere (the page says so instead of asking for a 404)."""
        entry = daemon.recent.find(card["source"], card["ts"])
        if entry is not None:
            return {**card, "image": f"/console/recent/{entry.seq}/image",
                    "overlay": f"/console/recent/{entry.seq}/overlay" if entry.heatmap is not None else None}
        kept = card["kept"] and Path(card["image_path"]).is_file()
        return {**card, "image": f"/console/inspections/{card['id']}/image" if kept else None, "overlay": None}

    def need_login(request: Request, session_cookie: str | None) -> None:
        if auth.from_elsewhere(request.headers.get("origin"),
                               (request.headers.get("host"), request.headers.get("x-forwarded-host"))):
            raise HTTPException(403, "refused: the request came from a page of another origin")
        if not settings.api.token:
            raise HTTPException(403, "changes are disabled: set [api] token (or FACTORY_AI_API__TOKEN) to enable them")
        if not auth.logged_in(session_cookie, settings.api.token):
            raise HTTPException(401, "log in at /login with the API token first")

    # -- pages -----------------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def line_view(request: Request, factory_ai_console: str | None = Cookie(None)) -> HTMLResponse:
        cards = [with_images(c) for c in read(views.latest_inspections, console.line_cards)]
        stats = read(views.line_stats, console)
        return page(request, "line.html", factory_ai_console, cards=cards, stats=stats, max_cards=console.line_cards,
                    title="Line")

    @app.get("/review", response_class=HTMLResponse, include_in_schema=False)
    def review_page(request: Request, factory_ai_console: str | None = Cookie(None)) -> HTMLResponse:
        from factory_ai import families, review

        items = read(review.queue, 50, None)
        classes_of = families.card_classes(daemon.registry)
        cards = []
        for item in items:
            classes, good, new_types = review.choices(item.inspection, classes_of)
            cards.append({**with_images(views.card(item.inspection, item.review)), "classes": classes, "good": good,
                          "new_types": new_types})
        return page(request, "review.html", factory_ai_console, cards=cards, title="Review")

    @app.get("/assets", response_class=HTMLResponse, include_in_schema=False)
    def assets_page(request: Request, factory_ai_console: str | None = Cookie(None),
                    page_number: int = Query(1, alias="page", ge=1, le=100_000),
                    line: str | None = Query(None, max_length=100)) -> HTMLResponse:
        shown = read(views.fleet, settings.reports.risk_alarm, settings.reports.machine_class, page_number, line or None)
        return page(request, "assets.html", factory_ai_console, title="Assets", **shown)

    @app.get("/assets/{name:path}", response_class=HTMLResponse, include_in_schema=False)
    def asset_page(name: str, request: Request, factory_ai_console: str | None = Cookie(None)) -> HTMLResponse:
        detail = read(views.asset, name, settings.reports.risk_alarm, 7, settings.reports.machine_class)
        if detail is None:
            raise HTTPException(404, f"no asset {name!r}")
        return page(request, "asset.html", factory_ai_console, title=name, **detail)

    @app.get("/alerts", response_class=HTMLResponse, include_in_schema=False)
    def alerts_page(request: Request, factory_ai_console: str | None = Cookie(None)) -> HTMLResponse:
        from factory_ai.alerts import engine

        rows = read(lambda s: [engine.describe(a, n) for a, n in engine.listing(s, limit=200)])
        return page(request, "alerts.html", factory_ai_console, alerts=rows, title="Alerts")

    @app.get("/models", response_class=HTMLResponse, include_in_schema=False)
    def models_page(request: Request, factory_ai_console: str | None = Cookie(None)) -> HTMLResponse:
        from factory_ai.scheduler.runs import history

        try:
            runs = history(daemon.store, limit=40)
        except SQLAlchemyError:
            runs = []
        info = read(views.models, daemon.registry, runs)
        return page(request, "models.html", factory_ai_console, title="Models & jobs", **info)

    @app.get("/models/{name}/{version}/curves.png", include_in_schema=False)
    def model_curves(name: str, version: str) -> Response:
        """A version's learning curves, so a person can see a model that did not learn. Only that
        one file of a version the registry resolves is ever served."""
        from factory_ai.errors import ModelError

        try:
            ref = daemon.registry.get(name, version)
        except ModelError:
            raise HTTPException(404, f"no model {name} {version}") from None
        path = ref.path / "curves.png"
        if not path.is_file():
            raise HTTPException(404, f"{name} {version} has no learning curves")
        return Response(path.read_bytes(), media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request, factory_ai_console: str | None = Cookie(None), error: str | None = None,
                   next: str = "/") -> HTMLResponse:  # noqa: A002 - the form's field name
        return page(request, "login.html", factory_ai_console, title="Log in", error=error, next=_local(next))

    @app.post("/login", include_in_schema=False)
    def login(request: Request, token: str = Form(...), next: str = Form("/")) -> Response:  # noqa: A002
        if not auth.token_matches(token, settings.api.token):
            return RedirectResponse(f"/login?{urlencode({'error': 'wrong token', 'next': _local(next)})}",
                                    status_code=303)
        response = RedirectResponse(_local(next), status_code=303)
        # Secure over HTTPS (direct, or via a proxy uvicorn trusts); plain-HTTP plant networks still log in.
        response.set_cookie(auth.COOKIE, auth.cookie_value(settings.api.token), httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
        return response

    @app.post("/logout", include_in_schema=False)
    def logout() -> Response:
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(auth.COOKIE)
        return response

    # -- live data and images --------------------------------------------------------------------
    @app.get("/console/line-stats", include_in_schema=False)
    def stats() -> dict[str, Any]:
        return read(views.line_stats, console)

    @app.get("/console/stream", include_in_schema=False)
    async def stream(request: Request) -> StreamingResponse:
        """Server-sent events: one ``inspection`` event per judged part, a comment every 15 s
        so proxies keep the connection open."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue(maxsize=100)
        daemon.recent.subscribe(loop, queue)

        async def events():  # noqa: ANN202
            try:
                yield "retry: 2000\n\n"
                while not await request.is_disconnected():
                    try:
                        event = await asyncio.wait_for(queue.get(), timeout=15)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    yield f"event: inspection\ndata: {json.dumps(event)}\n\n"
            finally:
                daemon.recent.unsubscribe(loop, queue)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @app.get("/console/recent/{seq}/{kind}", include_in_schema=False)
    def recent_image(seq: int, kind: str) -> Response:
        entry = daemon.recent.get(seq)
        if entry is None or kind not in ("image", "overlay"):
            raise HTTPException(404, "no longer in memory")
        return _image(entry.image if kind == "image" else daemon.recent.overlay(entry))

    @app.get("/console/inspections/{inspection_id}/{kind}", include_in_schema=False)
    def stored_image(inspection_id: int, kind: str) -> Response:
        from factory_ai.store.tables import Inspection
        from factory_ai.store.types import ensure_utc

        row = read(lambda s: s.get(Inspection, inspection_id))
        if row is None or kind not in ("image", "overlay"):
            raise HTTPException(404, f"no inspection {inspection_id}")
        entry = daemon.recent.find(row.source, ensure_utc(row.ts).isoformat())
        if entry is not None:
            return _image(entry.image if kind == "image" else daemon.recent.overlay(entry))
        if kind == "image" and row.image_path and Path(row.image_path).is_file():
            return _image(Path(row.image_path).read_bytes())
        raise HTTPException(404, "this image was not kept ([daemon] keep_images)")

    # -- actions ---------------------------------------------------------------------------------
    def change(fn):  # noqa: ANN001, ANN202
        return store_access.change(daemon.store, fn)

    @app.post("/console/review/{inspection_id}", include_in_schema=False)
    def label(inspection_id: int, body: LabelBody, request: Request,
              factory_ai_console: str | None = Cookie(None)) -> dict[str, Any]:
        from factory_ai import families, review

        need_login(request, factory_ai_console)
        classes = families.card_classes(daemon.registry)
        done = change(lambda s: review.label(s, inspection_id, body.label, "console", classes))
        return {"inspection_id": inspection_id, "label": done.label}

    @app.post("/console/flag", include_in_schema=False)
    def flag(body: FlagBody, request: Request, factory_ai_console: str | None = Cookie(None)) -> dict[str, Any]:
        from factory_ai import review

        need_login(request, factory_ai_console)
        inspection_id = body.id if body.id is not None else _id_of_recent(daemon, body.seq)
        change(lambda s: review.flag(s, inspection_id, "console"))
        return {"inspection_id": inspection_id, "flagged": True}

    @app.post("/console/alerts/{alert_id}/{action}", include_in_schema=False)
    def alert_action(alert_id: int, action: str, request: Request,
                     factory_ai_console: str | None = Cookie(None)) -> dict[str, Any]:
        from factory_ai.alerts import engine
        from factory_ai.store.types import utcnow

        need_login(request, factory_ai_console)
        if action == "acknowledge":
            alert = change(lambda s: engine.acknowledge(s, alert_id, "console", utcnow()))
        elif action == "resolve":
            alert = change(lambda s: engine.resolve(s, alert_id, "console", utcnow(), settings.alerts))
        else:
            raise HTTPException(404, f"no action {action!r}: acknowledge or resolve")
        return {"id": alert.id, "status": alert.status}

    @app.exception_handler(HTTPException)
    async def errors(request: Request, exc: HTTPException) -> Response:
        """JSON for the API and the console's scripts; a readable page for people."""
        wants_page = request.method == "GET" and "text/html" in request.headers.get("accept", "") and not (
            request.url.path.startswith("/api/") or request.url.path.startswith("/console/"))
        if wants_page:
            return templates.TemplateResponse(request, "error.html", {
                "pages": PAGES, "path": request.url.path, "title": f"Error {exc.status_code}", "status": exc.status_code,
                "detail": exc.detail, "logged_in": False, "writes_enabled": bool(settings.api.token)},
                status_code=exc.status_code)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def _id_of_recent(daemon: Plant, seq: int | None) -> int:
    """The stored id of a part seen on the live view (its row may still be in the writer)."""
    from sqlmodel import select

    from factory_ai.store.tables import Inspection

    entry = daemon.recent.get(seq) if seq is not None else None
    if entry is None:
        raise HTTPException(404, "give id, or the seq of a part still on the live view")
    daemon.flush_results(timeout=2.0)
    when = datetime.fromisoformat(entry.verdict["ts"])  # the same instant the row was stamped with
    with daemon.store.session() as session:
        found = session.exec(select(Inspection.id).where(Inspection.source == entry.verdict["source"],
                                                         Inspection.ts == when)).first()
    if found is None:
        raise HTTPException(404, "that part is not stored yet; try again in a moment")
    return found


def _image(data: bytes | None) -> Response:
    if not data:
        raise HTTPException(404, "no image")
    from factory_ai.vision.archive import suffix_of

    media = mimetypes.types_map.get(suffix_of(data), "application/octet-stream")
    return Response(data, media_type=media, headers={"Cache-Control": "private, max-age=3600"})


def _local(target: str) -> str:
    """Only paths on this server after login: never an open redirect."""
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else "/"
