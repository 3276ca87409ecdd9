"""The daemon's HTTP API: health, Prometheus metrics, results, and image upload for inspection.

Why these endpoints: a plant's monitoring scrapes ``/metrics`` and probes ``/health``; an MES
or a dashboard reads assets, inspections and predictions; a camera, PLC gateway or MES that
pushes images posts them to ``/api/v1/inspect`` and gets the verdict in the response.
Operators work the review queue (``/api/v1/review``) and acknowledge or resolve alerts; a CMMS
posts failures and maintenance to ``/api/v1/events``.
Reading is open (the API listens on 127.0.0.1 unless told otherwise); writing needs the
bearer token from ``[api] token``, checked (with the body's size) before the body is read, see
``guard``. OpenAPI docs are at ``/docs``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import Depends, FastAPI, File, Form, Header, HTTPException, Query, UploadFile
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field

from factory_ai import __version__
from factory_ai.api import store_access
from factory_ai.api.guard import Guard, refusal
from factory_ai.api.plant import Plant

MAX_UPLOAD = 50 * 1024 * 1024  # bytes; the decoder has its own pixel limit as well
MAX_BODY = 1024 * 1024  # any other request: JSON bodies and forms of a few fields
MULTIPART_SLACK = 64 * 1024  # an upload's boundaries, part headers and its line and source fields


def create_app(daemon: Plant) -> FastAPI:
    app = FastAPI(title="factory-ai", version=__version__,
                  description="Quality control and predictive maintenance beside the production line.")
    app.add_middleware(Guard, token=lambda: daemon.settings.api.token,
                       limit=lambda path: MAX_UPLOAD + MULTIPART_SLACK if path == "/api/v1/inspect" else MAX_BODY)

    def require_token(authorization: str | None = Header(default=None)) -> None:
        refused = refusal(authorization, daemon.settings.api.token)
        if refused is not None:
            raise refused

    def query(fn, *args):  # noqa: ANN001, ANN202
        return store_access.read(daemon.store, fn, *args)

    @app.get("/health", summary="Daemon, database, connector and model state")
    def health() -> JSONResponse:
        report = daemon.health()
        return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    def metrics() -> Response:
        return Response(daemon.metrics_text(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/v1/assets", summary="Assets with their sensors and latest forecast")
    def assets() -> list[dict[str, Any]]:
        return query(_assets)

    @app.get("/api/v1/inspections", summary="Latest inspections, newest first")
    def inspections(limit: int = Query(100, ge=1, le=10_000), verdict: str | None = None, line: str | None = None,
                    since: datetime | None = None) -> list[dict[str, Any]]:
        return query(_inspections, limit, verdict, line, since)

    @app.get("/api/v1/predictions", summary="Latest forecasts, newest first")
    def predictions(limit: int = Query(100, ge=1, le=10_000), asset: str | None = None) -> list[dict[str, Any]]:
        return query(_predictions, limit, asset)

    @app.post("/api/v1/inspect", summary="Judge one uploaded image", dependencies=[Depends(require_token)])
    def inspect(image: UploadFile = File(..., description="The product image (PNG, JPEG, BMP, TIFF)."),
                line: str | None = Form(None, max_length=100), source: str | None = Form(None, max_length=1000)
                ) -> JSONResponse:
        data = image.file.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD:
            raise HTTPException(413, f"image larger than {MAX_UPLOAD // (1024 * 1024)} MB")
        try:
            verdict = daemon.inspect(data, source or f"upload:{image.filename or 'image'}", line, via="http")
        except RuntimeError as exc:  # no model can be loaded
            raise HTTPException(503, str(exc)) from None
        return JSONResponse(verdict, status_code=422 if verdict["verdict"] == "error" else 200)

    def change(fn, *args):  # noqa: ANN001, ANN202 - a write: bad ids and labels are the caller's 4xx
        return store_access.change(daemon.store, fn, *args)

    @app.get("/api/v1/review", summary="The review queue: unlabelled review verdicts and flagged images")
    def review_queue(limit: int = Query(50, ge=1, le=1000), line: str | None = None) -> list[dict[str, Any]]:
        from factory_ai import review

        return [{**_inspection(item.inspection), "flagged": bool(item.review and item.review.flagged)}
                for item in query(review.queue, limit, line)]

    @app.post("/api/v1/review/{inspection_id}", summary="Label an inspection's image with its true class",
              dependencies=[Depends(require_token)])
    def review_label(inspection_id: int, body: LabelBody) -> dict[str, Any]:
        from factory_ai import families, review

        classes = families.card_classes(daemon.registry)
        done = change(lambda s: review.label(s, inspection_id, body.label, body.reviewer or "api", classes))
        return {"inspection_id": inspection_id, "label": done.label, "reviewer": done.reviewer}

    @app.post("/api/v1/inspections/{inspection_id}/flag", summary="Put an inspection in the review queue",
              dependencies=[Depends(require_token)])
    def review_flag(inspection_id: int, body: ByBody | None = None) -> dict[str, Any]:
        from factory_ai import review

        change(lambda s: review.flag(s, inspection_id, (body and body.by) or "api"))
        return {"inspection_id": inspection_id, "flagged": True}

    @app.get("/api/v1/events", summary="Failures and maintenance, newest first")
    def list_events(asset: str | None = None, limit: int = Query(100, ge=1, le=10_000)) -> list[dict[str, Any]]:
        from factory_ai import events

        return [events.describe(e, name) for e, name in query(events.listing, asset, limit)]

    @app.post("/api/v1/events", summary="Record a failure or maintenance (a CMMS or an operator)",
              dependencies=[Depends(require_token)], status_code=201)
    def add_event(body: EventBody) -> dict[str, Any]:
        from factory_ai import events

        done = change(lambda s: events.record(s, body.asset, body.kind, body.ts, body.note))
        return {**events.describe(done.event, done.asset), "created": done.created}

    @app.get("/api/v1/alerts", summary="Alerts, open and acknowledged first")
    def list_alerts(status: str | None = Query(None, pattern="^(open|acknowledged|resolved)$"),
                    limit: int = Query(100, ge=1, le=10_000)) -> list[dict[str, Any]]:
        return query(_alerts, status, limit)

    @app.post("/api/v1/alerts/{alert_id}/acknowledge", summary="Someone is on it: stop repeats",
              dependencies=[Depends(require_token)])
    def acknowledge(alert_id: int, body: ByBody | None = None) -> dict[str, Any]:
        from factory_ai.alerts import engine
        from factory_ai.store.types import utcnow

        alert = change(lambda s: engine.acknowledge(s, alert_id, (body and body.by) or "api", utcnow()))
        return {"id": alert.id, "status": alert.status, "acknowledged_by": alert.acknowledged_by}

    @app.post("/api/v1/alerts/{alert_id}/resolve", summary="Resolve an alert by hand",
              dependencies=[Depends(require_token)])
    def resolve(alert_id: int, body: ByBody | None = None) -> dict[str, Any]:
        from factory_ai.alerts import engine
        from factory_ai.store.types import utcnow

        alerts_settings = daemon.settings.alerts
        alert = change(lambda s: engine.resolve(s, alert_id, (body and body.by) or "api", utcnow(), alerts_settings))
        return {"id": alert.id, "status": alert.status}

    @app.get("/api/v1/registry/{name}", summary="A model's versions and the one in service (for line daemons)")
    def registry_model(name: str) -> dict[str, Any]:
        registry = daemon.registry
        if name not in registry.names():
            raise HTTPException(404, f"no model {name!r}")
        return {"name": name, "current": registry.current(name), "versions": registry.versions(name)}

    @app.get("/api/v1/registry/{name}/{version}/{file}", summary="A version's card or one of its artifacts")
    def registry_file(name: str, version: str, file: str) -> Response:
        from fastapi.responses import FileResponse

        from factory_ai.errors import ModelError
        from factory_ai.registry import CARD, read_card

        try:
            ref = daemon.registry.get(name, version)
            card = read_card(ref.path)
        except ModelError as exc:
            raise HTTPException(404, str(exc)) from None
        if file != CARD and file not in card["artifacts"]:  # only what the card names: no other path
            raise HTTPException(404, f"{name} {version} has no file {file!r}")
        return FileResponse(ref.path / file, media_type="application/json" if file == CARD
                            else "application/octet-stream")

    if daemon.settings.console.enabled:
        from factory_ai.console import mount

        mount(app, daemon)
    return app


class LabelBody(BaseModel):
    label: str = Field(min_length=1, max_length=200, description="A class of the judging model, or pass.")
    reviewer: str | None = Field(default=None, max_length=200)


class EventBody(BaseModel):
    asset: str = Field(min_length=1, max_length=200)
    kind: str = Field(pattern="^(failure|maintenance)$")
    ts: datetime | None = Field(default=None, description="When (UTC when no zone is given); default now.")
    note: str | None = Field(default=None, max_length=2000)


class ByBody(BaseModel):
    by: str | None = Field(default=None, max_length=200)


def _inspection(i) -> dict[str, Any]:  # noqa: ANN001
    return {"id": i.id, "ts": i.ts.isoformat(), "source": i.source, "line": i.line, "verdict": i.verdict,
            "label": i.label, "confidence": i.confidence, "model": f"{i.model_name} {i.model_version}",
            "latency_ms": i.latency_ms, "image_path": i.image_path, "error": i.error}


def _alerts(session, status: str | None, limit: int) -> list[dict[str, Any]]:  # noqa: ANN001
    from factory_ai.alerts import engine

    return [engine.describe(alert, asset) for alert, asset in engine.listing(session, status=status, limit=limit)]


def _assets(session) -> list[dict[str, Any]]:  # noqa: ANN001
    from sqlmodel import select

    from factory_ai.store.assets import keys_by_id
    from factory_ai.store.tables import Asset, Prediction, Sensor

    assets = session.exec(select(Asset).order_by(Asset.name, Asset.line)).all()
    sensors: dict[int, list[dict[str, Any]]] = {}
    for sensor in session.exec(select(Sensor)).all():
        sensors.setdefault(sensor.asset_id, []).append({"name": sensor.name, "unit": sensor.unit})
    latest: dict[int, Prediction] = {}
    for prediction in session.exec(select(Prediction).order_by(Prediction.id.desc()).limit(5000)).all():
        latest.setdefault(prediction.asset_id, prediction)
    keys = keys_by_id(session)
    out = []
    for asset in assets:
        p = latest.get(asset.id)
        out.append({"key": keys[asset.id], "name": asset.name, "line": asset.line, "sensors": sorted(sensors.get(asset.id, []),
                                                                             key=lambda s: s["name"]),
                    "forecast": None if p is None else {"ts": p.ts.isoformat(), "rul": p.rul, "rul_low": p.rul_low,
                                                        "rul_high": p.rul_high, "risk": p.risk, "horizon": p.horizon,
                                                        "model": f"{p.model_name} {p.model_version}",
                                                        "error": p.error}})
    return out


def _inspections(session, limit: int, verdict: str | None, line: str | None, since) -> list[dict[str, Any]]:  # noqa: ANN001
    from sqlmodel import select

    from factory_ai.store.tables import Inspection

    q = select(Inspection).order_by(Inspection.id.desc()).limit(limit)
    if verdict:
        q = q.where(Inspection.verdict == verdict)
    if line:
        q = q.where(Inspection.line == line)
    if since is not None:
        q = q.where(Inspection.ts >= (since if since.tzinfo else since.replace(tzinfo=UTC)))
    return [_inspection(i) for i in session.exec(q).all()]


def _predictions(session, limit: int, asset: str | None) -> list[dict[str, Any]]:  # noqa: ANN001
    from sqlmodel import select

    from factory_ai.store.assets import keys_by_id, resolve
    from factory_ai.store.tables import Prediction

    q = select(Prediction).order_by(Prediction.id.desc())
    if asset:
        found = resolve(session, [asset])
        if not found:
            return []
        q = q.where(Prediction.asset_id == found[asset])
    rows = session.exec(q.limit(limit)).all()
    keys = keys_by_id(session, {p.asset_id for p in rows})
    return [{"id": p.id, "ts": p.ts.isoformat(), "asset": keys[p.asset_id], "rul": p.rul, "rul_low": p.rul_low,
             "rul_high": p.rul_high, "risk": p.risk, "horizon": p.horizon,
             "model": f"{p.model_name} {p.model_version}", "error": p.error} for p in rows]
