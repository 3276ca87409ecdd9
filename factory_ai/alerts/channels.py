"""The ways an alert reaches people: webhook, e-mail, MQTT, the log.

Each channel is a function ``send(payload, delivery_id)`` that returns when the far end has
taken the message and raises otherwise; retrying is the outbox's job, not the channel's.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import time
import urllib.parse
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from typing import Any

from factory_ai.alerts import config as c
from factory_ai.alerts.outbox import Send

log = logging.getLogger("factory_ai.alerts")

SIGNATURE_HEADER = "X-Factory-AI-Signature"
TIMESTAMP_HEADER = "X-Factory-AI-Timestamp"
DELIVERY_HEADER = "X-Factory-AI-Delivery"


Publish = Callable[[dict[str, Any]], None]  # a running connector's publish_alert


def senders(channels: list, live: Mapping[str, Publish] | None = None) -> dict[str, Send]:
    """A sender for every enabled channel in the config, by name; ``live`` are the running
    connectors that publish alerts (inside the daemon), by connector name."""
    makers = {"webhook": _webhook, "email": _email, "mqtt": _mqtt, "log": _log,
              "connector": lambda ch: _connector(ch, live or {})}
    return {ch.name: makers[ch.kind](ch) for ch in channels if ch.enabled}


def _connector(ch: c.ConnectorChannel, live: Mapping[str, Publish]) -> Send:
    def send(payload: Mapping[str, Any], delivery_id: int) -> None:
        publish = live.get(ch.connector)
        if publish is None:
            raise RuntimeError(f"connector {ch.connector!r} is not running here (it must be an MQTT connector with "
                               "alert_topic or Sparkplug B group/edge_node, in the daemon)")
        publish(dict(payload))

    return send


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The webhook signature: HMAC-SHA256 over ``timestamp + "." + body``. Receivers recompute it
    and compare in constant time; the timestamp lets them refuse replays of old messages."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _webhook(ch: c.WebhookChannel) -> Send:
    import httpx

    def send(payload: Mapping[str, Any], delivery_id: int) -> None:
        body = json.dumps(payload, sort_keys=True).encode()
        stamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: stamp,
                   DELIVERY_HEADER: str(delivery_id), **ch.headers}
        if ch.secret:
            headers[SIGNATURE_HEADER] = sign(ch.secret, stamp, body)
        response = httpx.post(ch.url, content=body, headers=headers, timeout=ch.timeout_seconds)
        if response.status_code >= 300:
            raise RuntimeError(f"{server_of(ch.url)} answered {response.status_code} {response.reason_phrase}")

    return send


def server_of(url: str) -> str:
    """A webhook URL as the log and the outbox may show it: scheme, host and port only. Chat and
    CMMS webhooks carry their credential in the path or the query (or a user and password), and
    a failed delivery's message is logged and stored."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def subject(payload: Mapping[str, Any]) -> str:
    event = {"raised": "", "repeated": "still: ", "resolved": "resolved: "}.get(payload["event"], "")
    return f"[factory-ai {payload['severity']}] {event}{payload['message']}"[:200]


def _email(ch: c.EmailChannel) -> Send:
    context = ssl.create_default_context(cafile=ch.ca_file)

    def send(payload: Mapping[str, Any], delivery_id: int) -> None:
        message = EmailMessage()
        message["Subject"] = subject(payload)
        message["From"] = ch.sender
        message["To"] = ", ".join(ch.to)
        message["X-Factory-AI-Delivery"] = str(delivery_id)
        lines = [payload["message"], ""]
        lines += [f"{key}: {payload[key]}" for key in ("event", "severity", "status", "asset", "line", "rule",
                                                         "count", "first_seen", "last_seen", "alert_id")
                  if payload.get(key) is not None]
        message.set_content("\n".join(lines) + "\n")
        smtp_send(ch, message, context)

    return send


def smtp_send(ch: c.EmailChannel, message: EmailMessage, context: ssl.SSLContext | None = None) -> None:
    """Send one message through the channel's server, with its security and login (alerts and reports)."""
    context = context or ssl.create_default_context(cafile=ch.ca_file)
    smtp_class = smtplib.SMTP_SSL if ch.security == "tls" else smtplib.SMTP
    extra = {"context": context} if ch.security == "tls" else {}
    with smtp_class(ch.host, ch.port, timeout=ch.timeout_seconds, **extra) as smtp:
        if ch.security == "starttls":
            smtp.starttls(context=context)
        if ch.username is not None:
            smtp.login(ch.username, ch.password or "")
        smtp.send_message(message)


def _mqtt(ch: c.MqttChannel) -> Send:
    def send(payload: Mapping[str, Any], delivery_id: int) -> None:
        import paho.mqtt.client as mqtt

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"factory-ai-alerts-{delivery_id}")
        if ch.username is not None:
            client.username_pw_set(ch.username, ch.password)
        if ch.tls:
            client.tls_set(ca_certs=ch.ca_file)
        client.connect(ch.host, ch.port, keepalive=30)
        client.loop_start()
        try:
            topic = ch.topic.format(severity=payload["severity"], rule=payload["rule"])
            info = client.publish(topic, json.dumps(payload, sort_keys=True), qos=1, retain=ch.retain)
            info.wait_for_publish(timeout=ch.timeout_seconds)
            if not info.is_published():
                raise TimeoutError(f"{ch.host}:{ch.port} did not acknowledge within {ch.timeout_seconds:g} s")
        finally:
            client.disconnect()
            client.loop_stop()

    return send


def _log(ch: c.LogChannel) -> Send:
    levels = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.CRITICAL}

    def send(payload: Mapping[str, Any], delivery_id: int) -> None:
        log.log(levels.get(payload["severity"], logging.WARNING), "alert %s (%s, x%d): %s", payload["event"],
                payload["severity"], payload["count"], payload["message"])

    return send
