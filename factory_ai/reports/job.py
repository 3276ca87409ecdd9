"""Writing a report to files (the CLI and the scheduled ``report`` job), and mailing it."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path
from typing import Any

from factory_ai.errors import ConfigError
from factory_ai.reports.build import Report, build
from factory_ai.reports.maintenance import MACHINE_CLASS, write_work_orders
from factory_ai.reports.render import markdown, write
from factory_ai.reports.scope import Scope, make_scope

MIME = {"html": ("text", "html"), "pdf": ("application", "pdf"), "md": ("text", "markdown"), "csv": ("text", "csv")}


def produce(store, scope: Scope, formats: list[str], folder: Path, *, stem: str | None = None,  # noqa: ANN001
            risk_alarm: float = 0.5, machine_class: tuple[str, str] = MACHINE_CLASS, asset_pages: int | None = None
            ) -> tuple[Report, list[Path]]:
    """Build once, write each format and the work-orders CSV into ``folder``."""
    report = build(store, scope, risk_alarm=risk_alarm, machine_class=machine_class, asset_pages=asset_pages)
    stem = stem or f"report-{scope.end:%Y%m%d-%H%M}"
    files = [write(report, fmt, folder / f"{stem}.{fmt}") for fmt in formats]
    files.append(write_work_orders(report.maintenance.fleet, folder / f"{stem}-work-orders.csv"))
    return report, files


def scheduled(store, settings) -> dict[str, Any]:  # noqa: ANN001
    cfg = settings.reports
    channel = _channel(settings, cfg.email_channel) if cfg.email_channel else None
    report, files = produce(store, make_scope(since=cfg.since), list(cfg.formats), settings.resolve(cfg.dir),
                            risk_alarm=cfg.risk_alarm, machine_class=cfg.machine_class, asset_pages=cfg.asset_pages)
    detail: dict[str, Any] = {"period": report.scope.describe(), "files": [str(f) for f in files],
                              "assets": len(report.maintenance.fleet), **report.maintenance.priorities(),
                              "inspections": report.quality.total}
    if channel is not None:
        mail(channel, report, files)
        detail["mailed_to"] = list(channel.to)
    return detail


def mail(channel, report: Report, files: list[Path]) -> None:  # noqa: ANN001 - an alerts EmailChannel
    from factory_ai.alerts.channels import smtp_send

    p1 = report.maintenance.priorities()["P1"]
    message = EmailMessage()
    message["Subject"] = (f"[factory-ai] report {report.scope.start:%Y-%m-%d} to {report.scope.end:%Y-%m-%d}: "
                          f"{p1} asset{'s' if p1 != 1 else ''} to repair, yield "
                          + (f"{report.quality.yield_:.1%}" if report.quality.yield_ is not None else "n/a"))
    message["From"] = channel.sender
    message["To"] = ", ".join(channel.to)
    message.set_content(markdown(report))
    for path in files:
        maintype, subtype = MIME.get(path.suffix.lstrip("."), ("application", "octet-stream"))
        message.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name)
    smtp_send(channel, message)


def _channel(settings, name: str):  # noqa: ANN001, ANN202
    for channel in settings.alerts.channels:
        if channel.name == name:
            if channel.kind != "email":
                raise ConfigError(f"[reports] email_channel = {name!r} is a {channel.kind} channel, not email")
            return channel
    raise ConfigError(f"[reports] email_channel = {name!r}: no [[alerts.channels]] entry has that name")
