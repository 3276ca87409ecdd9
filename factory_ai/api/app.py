"""The daemon's HTTP API: health, Prometheus metrics, results, and image upload for inspection.

Why these endpoints: a plant's monitoring scrapes ``/metrics`` and probes ``/health``; an MES
or a dashboard reads assets, inspections and predictions; a camera, PLC gateway or MES that
pushes images posts them to ``/api/v1/inspect`` and gets the verdict in the response.
Reading is open (the API listens on 127.0.0.1 unless told otherwise); writing needs the
bearer token from ``[api] token``. OpenAPI docs are at ``/docs``.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, File, Form, Header, HTTPException, Query, UploadFile
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import SQLAlchemyError

from factory_ai import __version__

if TYPE_CHECKING:
    from factory_ai.daemon.service import Daemon

MAX_UPLOAD = 50 * 1024 * 1024  # bytes; the decoder has its own pixel limit as well


def create_app(daemon: Daemon) -> FastAPI:
    app = FastAPI(title="factory-ai", version=__version__,
                  description="Quality control and predictive maintenance beside the production line.")

    def require_token(authorization: str | None = Header(default=None)) -> None:
        token = daemon.settings.api.token
        if not token:
            raise HTTPException(403, "writes are disabled: set [api] token (or FACTORY_AI_API__TOKEN) to enable them")
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    def query(fn, *args):  # noqa: ANN001, ANN202
        try:
            with daemon.store.session() as session:
                return fn(session, *args)
        except SQLAlchemyError as exc:
            raise HTTPException(503, f"the store is unavailable: {str(exc).splitlines()[0]}") from None

    @app.get("/health", summary="Daemon, database, connector and model state")
    def health() -> JSONResponse:
        report = daemon.health()
        return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    def metrics() -> Response:
        return Response(daemon.metrics.text(), media_type=CONTENT_TYPE_LATEST)

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
                line: str | None = Form(None), source: str | None = Form(None)) -> JSONResponse:
        data = image.file.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD:
            raise HTTPException(413, f"image larger than {MAX_UPLOAD // (1024 * 1024)} MB")
        try:
            verdict = daemon.inspector.inspect(data, source or f"upload:{image.filename or 'image'}", line, via="http")
        except RuntimeError as exc:  # no model can be loaded
            raise HTTPException(503, str(exc)) from None
        return JSONResponse(verdict, status_code=422 if verdict["verdict"] == "error" else 200)

    return app


def _assets(session) -> list[dict[str, Any]]:  # noqa: ANN001
    from sqlmodel import select

    from factory_ai.store.tables import Asset, Prediction, Sensor

    assets = session.exec(select(Asset).order_by(Asset.name)).all()
    sensors: dict[int, list[dict[str, Any]]] = {}
    for sensor in session.exec(select(Sensor)).all():
        sensors.setdefault(sensor.asset_id, []).append({"name": sensor.name, "unit": sensor.unit})
    latest: dict[int, Prediction] = {}
    for prediction in session.exec(select(Prediction).order_by(Prediction.id.desc()).limit(5000)).all():
        latest.setdefault(prediction.asset_id, prediction)
    out = []
    for asset in assets:
        p = latest.get(asset.id)
        out.append({"name": asset.name, "line": asset.line, "sensors": sorted(sensors.get(asset.id, []),
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
    return [{"id": i.id, "ts": i.ts.isoformat(), "source": i.source, "line": i.line, "verdict": i.verdict,
             "label": i.label, "confidence": i.confidence, "model": f"{i.model_name} {i.model_version}",
             "latency_ms": i.latency_ms, "error": i.error} for i in session.exec(q).all()]


def _predictions(session, limit: int, asset: str | None) -> list[dict[str, Any]]:  # noqa: ANN001
    from sqlmodel import select

    from factory_ai.store.tables import Asset, Prediction

    q = select(Prediction, Asset.name).join(Asset, Asset.id == Prediction.asset_id).order_by(Prediction.id.desc())
    if asset:
        q = q.where(Asset.name == asset)
    return [{"id": p.id, "ts": p.ts.isoformat(), "asset": name, "rul": p.rul, "rul_low": p.rul_low,
             "rul_high": p.rul_high, "risk": p.risk, "horizon": p.horizon,
             "model": f"{p.model_name} {p.model_version}", "error": p.error}
            for p, name in session.exec(q.limit(limit)).all()]
