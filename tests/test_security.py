"""The HTTP surface as an attacker meets it: a real daemon on 127.0.0.1, raw sockets where a
client library would be too polite (a body that never ends, a Content-Length it never sends).

Each test names what it guards: bodies bounded before they are read, writes refused before
their body without the token, console actions refused from other origins, the login cookie,
browser headers, registry versions that would leave their folder, and secrets kept out of
/health, the log and the alert outbox; and onnxruntime kept from collecting telemetry.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import select
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from sqlmodel import select as where

from factory_ai import alerts
from factory_ai.alerts.config import AlertSettings
from factory_ai.api.app import MAX_UPLOAD
from factory_ai.config import load_settings
from factory_ai.daemon.service import Daemon
from factory_ai.distribution import FolderSource, pull
from factory_ai.errors import ModelError
from factory_ai.registry import Registry, sha256_file, write_card
from factory_ai.store import Alert, Asset, Delivery, Prediction, Store
from tests.conftest import ROOT
from tests.servers import WebhookServer

TOKEN = "plant-token-7f3a"
SECRET = "s3cret-do-not-show"


def _start(folder: Path, extra: str = "") -> Daemon:
    """A daemon with the demo vision model, no connectors, the API and console on a free port."""
    shutil.copytree(ROOT / "models" / "demo-surface", folder / "models" / "demo-surface",
                    ignore=shutil.ignore_patterns("*.png", "*.pt"))
    (folder / "factory.toml").write_text(
        '[store]\nurl = "sqlite:///var/factory.db"\n[runtime]\nthreads = 1\n[scheduler]\nenabled = false\n'
        f'[api]\nport = 0\ntoken = "{TOKEN}"\n' + extra)
    daemon = Daemon(load_settings(folder / "factory.toml", environ={}), [])
    daemon.start()
    return daemon


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    daemon = _start(tmp_path)
    try:
        yield daemon
    finally:
        daemon.stop()


def _base(daemon: Daemon) -> str:
    host, port = daemon.api_address
    return f"http://{host}:{port}"


def _raw(daemon: Daemon, head: str, chunks: Iterator[bytes] = iter(()), wait: float = 5.0) -> bytes:
    """Send a request's head, then its body piece by piece while the server has not answered;
    return the first bytes of its answer (b"" when it kept reading, or waiting, without one)."""
    sock = socket.create_connection(daemon.api_address, timeout=wait)
    try:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
        for chunk in chunks:
            if select.select([sock], [], [], 0)[0]:
                break
            try:
                sock.sendall(chunk)
            except OSError:
                break
        try:
            return sock.recv(65536)
        except OSError:
            return b""
    finally:
        sock.close()


def _head(path: str, length: int | None, *, token: str | None = TOKEN,
          content_type: str = "multipart/form-data; boundary=xyz") -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {content_type}"]
    lines += [f"Authorization: Bearer {token}"] if token else []
    lines += [f"Content-Length: {length}"] if length is not None else ["Transfer-Encoding: chunked"]
    return "\n".join(lines) + "\n"


# -- bodies: bounded before they are read ------------------------------------------------------------
@pytest.mark.parametrize("path, length", [("/api/v1/inspect", 10 * 1024**3), ("/api/v1/events", 5 * 1024**2),
                                          ("/console/flag", 5 * 1024**2)])
def test_a_declared_oversized_body_is_refused_before_it_is_sent(daemon: Daemon, path: str, length: int) -> None:
    """Content-Length alone decides: the daemon answers 413 without waiting for a byte of body."""
    answer = _raw(daemon, _head(path, length, content_type="application/json"))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_a_chunked_upload_is_cut_off_at_the_limit(daemon: Daemon) -> None:
    """No Content-Length: the bytes are counted as they come, and the answer comes at the limit,
    not after the client chooses to stop."""
    part = (b'--xyz\r\nContent-Disposition: form-data; name="image"; filename="big.png"\r\n'
            b"Content-Type: image/png\r\n\r\n")
    block = b"\0" * (1024 * 1024)

    def body() -> Iterator[bytes]:
        yield f"{len(part):x}\r\n".encode() + part + b"\r\n"
        for _ in range(MAX_UPLOAD // len(block) + 8):  # past the limit, and never the final chunk
            yield f"{len(block):x}\r\n".encode() + block + b"\r\n"

    answer = _raw(daemon, _head("/api/v1/inspect", None), body())
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_an_api_write_without_the_token_is_refused_before_its_body(daemon: Daemon) -> None:
    """A client without the token cannot make the daemon take in (and spool) an upload."""
    for token in (None, "wrong"):
        answer = _raw(daemon, _head("/api/v1/inspect", 40 * 1024 * 1024, token=token))
        assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
        assert b"www-authenticate: Bearer" in answer.lower().replace(b"bearer", b"Bearer")


def test_an_upload_with_an_overlong_line_is_refused(daemon: Daemon) -> None:
    """``line`` is a VARCHAR(100) column: a longer one would fail every batch it is written in
    (on PostgreSQL), spooling the plant's results until someone deleted the row by hand."""
    answer = httpx.post(f"{_base(daemon)}/api/v1/inspect", headers={"Authorization": f"Bearer {TOKEN}"},
                        files={"image": ("part.png", _png(), "image/png")}, data={"line": "x" * 101}, timeout=30)
    assert answer.status_code == 422, answer.text
    assert daemon.inspector.judged == 0


def _png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (32, 32), (128, 128, 128)).save(out, format="PNG")
    return out.getvalue()


# -- the console ---------------------------------------------------------------------------------------
def _open_alert(daemon: Daemon) -> int:
    with daemon.store.session() as session:
        pump = Asset(name="pump-1", line="line1")
        session.add(pump)
        session.flush()
        alert = Alert(key="rul:pump-1", rule="rul_below", severity="critical", asset_id=pump.id, message="low")
        session.add(alert)
        session.flush()
        return alert.id


def test_console_actions_from_another_origin_are_refused(daemon: Daemon) -> None:
    """SameSite=Strict does not cover a page of the same site (another port on this host): its
    script could post with the operator's cookie. The action's Origin must be the console's."""
    alert_id = _open_alert(daemon)
    client = httpx.Client(base_url=_base(daemon), timeout=10)
    assert client.post("/login", data={"token": TOKEN}).status_code == 303
    host, port = daemon.api_address
    for origin in (f"http://{host}:{port + 1}", "http://evil.example", "null"):
        refused = client.post(f"/console/alerts/{alert_id}/acknowledge", headers={"Origin": origin})
        assert refused.status_code == 403, (origin, refused.text)
        refused = client.post("/console/flag", json={"id": 1}, headers={"Origin": origin})
        assert refused.status_code == 403, (origin, refused.text)
    with daemon.store.session() as session:
        assert session.get(Alert, alert_id).status == "open"
    done = client.post(f"/console/alerts/{alert_id}/acknowledge", headers={"Origin": f"http://{host}:{port}"})
    assert done.status_code == 200 and done.json()["status"] == "acknowledged"


def test_the_login_cookie_is_secure_when_the_browser_came_over_https(daemon: Daemon) -> None:
    """Behind a TLS proxy (which uvicorn trusts on 127.0.0.1) the cookie must never travel over
    plain HTTP; without TLS it still works."""
    client = httpx.Client(base_url=_base(daemon), timeout=10)
    over_tls = client.post("/login", data={"token": TOKEN}, headers={"X-Forwarded-Proto": "https"},
                           follow_redirects=False)
    cookie = over_tls.headers["set-cookie"].lower()
    assert over_tls.status_code == 303 and "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    plain = client.post("/login", data={"token": TOKEN}, follow_redirects=False)
    assert "secure" not in plain.headers["set-cookie"].lower()


def test_responses_forbid_sniffing_and_framing(daemon: Daemon) -> None:
    """Images are served by what their bytes say; nosniff keeps a browser from reading one as a
    page, and no page of the console may be framed (clickjacking the acknowledge buttons)."""
    client = httpx.Client(base_url=_base(daemon), timeout=10)
    for path in ("/", "/health", "/api/v1/assets", "/no-such-page"):
        answer = client.get(path)
        assert answer.headers.get("x-content-type-options") == "nosniff", path
        assert answer.headers.get("x-frame-options") == "DENY", path


def test_login_redirects_only_to_paths_of_this_server(daemon: Daemon) -> None:
    client = httpx.Client(base_url=_base(daemon), timeout=10)
    for target in ("/\\evil.example", "//evil.example", "https://evil.example"):
        answer = client.post("/login", data={"token": TOKEN, "next": target}, follow_redirects=False)
        assert answer.headers["location"] == "/", target


# -- the registry ---------------------------------------------------------------------------------------
def _version(registry: Registry, name: str) -> str:
    version, staging = registry.staging_dir(name)
    (staging / "model.onnx").write_bytes(b"onnx " + name.encode())
    write_card(staging, {"name": name, "version": version, "family": "test",
                         "artifacts": {"model.onnx": {"sha256": sha256_file(staging / "model.onnx")}}})
    registry.commit(name, version, staging)
    return version


def test_a_version_that_leaves_its_model_folder_is_refused(tmp_path: Path) -> None:
    """``models promote a ../b/v1`` must not put b's version in service as a's."""
    registry = Registry(tmp_path, fallbacks=())
    _version(registry, "a")
    _version(registry, "b")
    for version in ("../b/v1", "..", ".", "v1/../../b/v1"):
        with pytest.raises(ModelError, match="invalid model version"):
            registry.promote("a", version)
        with pytest.raises(ModelError, match="invalid model version"):
            registry.resolve(f"a:{version}")
    assert registry.current("a") is None


def test_a_central_cannot_steer_a_pull_outside_the_registry(tmp_path: Path) -> None:
    """The version a source names becomes a folder on the line PC: a central (or whoever answers
    in its place) saying ``../../planted`` must not write there."""
    hub = Registry(tmp_path / "central", fallbacks=())
    _version(hub, "demo")
    planted = tmp_path / "planted"
    shutil.copytree(tmp_path / "central" / "demo" / "v1", planted)
    (tmp_path / "central" / "demo" / "CURRENT").write_text("../../planted\n")
    line = Registry(tmp_path / "line" / "models", fallbacks=())
    with pytest.raises(ModelError, match="invalid model version"):
        pull(FolderSource(hub.root), line, "demo")
    assert not (tmp_path / "line" / "planted").exists()
    assert not (tmp_path / "line" / "models" / "demo" / "CURRENT").exists()


# -- secrets ----------------------------------------------------------------------------------------------
class _Central:
    """A real HTTP server playing a central registry behind a login: it records each request's
    Authorization header and knows no model."""

    def __init__(self) -> None:
        self.logins: list[str | None] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server naming
                owner.logins.append(self.headers.get("Authorization"))
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def test_the_model_source_password_stays_out_of_health_and_the_log(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    """A central registry URL with a login: the login is sent (Basic), never shown."""
    central = _Central()
    caplog.set_level(logging.INFO)
    try:
        daemon = _start(tmp_path, f'[models]\nsource = "http://fleet:{SECRET}@127.0.0.1:{central.port}/"\n')
        try:
            health = httpx.get(f"{_base(daemon)}/health", timeout=10).json()
        finally:
            daemon.stop()
    finally:
        central.close()
    assert health["models"]["sync"]["source"] == f"http://127.0.0.1:{central.port}/"
    assert health["models"]["sync"]["last_error"]  # the pull failed (404), and says so
    assert SECRET not in json.dumps(health) and SECRET not in caplog.text
    assert central.logins and central.logins[0] == "Basic " + base64.b64encode(f"fleet:{SECRET}".encode()).decode()


def test_a_failing_webhook_does_not_log_or_store_its_url_secret(tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """Chat and CMMS webhooks carry their credential in the URL; a failed delivery names the
    server and the status only."""
    server = WebhookServer()
    server.status = 500
    url = f"http://hook:{SECRET}@127.0.0.1:{server.port}/hook/T0/{SECRET}?token={SECRET}"
    try:
        with Store(f"sqlite:///{tmp_path / 'factory.db'}") as store:
            with store.session() as session:
                pump = Asset(name="pump-1", line="l1")
                session.add(pump)
                session.flush()
                session.add(Prediction(asset_id=pump.id, rul=5, risk=0.9, horizon=48, model_name="m",
                                       model_version="v1"))
            settings = AlertSettings.model_validate({
                "rules": [{"name": "rul", "kind": "rul_below", "threshold": 24}],
                "channels": [{"name": "cmms", "kind": "webhook", "url": url}]})
            caplog.set_level(logging.INFO)
            caplog.set_level(logging.WARNING, logger="httpx")  # as the daemon runs (cli.common.setup_logging)
            assert alerts.check(store, settings)["failed"] == 1
            with store.session() as session:
                delivery = session.exec(where(Delivery)).one()
    finally:
        server.close()
    assert "500" in delivery.last_error and f"127.0.0.1:{server.port}" in delivery.last_error
    assert SECRET not in delivery.last_error and SECRET not in caplog.text


# The variables by which onnxruntime 1.32 recognises a CI machine, where it stays quiet on its own
# (and this test would have nothing to show).
CI_MARKERS = ("CI", "GITHUB_ACTIONS", "TF_BUILD", "GITLAB_CI", "CIRCLECI", "TRAVIS", "JENKINS_URL", "CODEBUILD_BUILD_ID",
              "BUILDKITE", "TEAMCITY_VERSION", "APPVEYOR", "BITBUCKET_BUILD_NUMBER")


def _cache_after(code: str, home: Path) -> list[str]:
    """What a fresh interpreter running ``code`` leaves under ``home``'s cache."""
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}  # set by this process's import
    env["HOME"] = str(home)
    for name in ("XDG_CACHE_HOME", *CI_MARKERS):
        env.pop(name, None)
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120, capture_output=True)
    return sorted(str(p.relative_to(home)) for p in home.rglob("*"))


def test_the_line_side_sends_no_onnxruntime_telemetry(tmp_path: Path) -> None:
    model = ROOT / "models" / "demo-surface"
    opened = f"import onnxruntime; onnxruntime.InferenceSession({str(model / 'v1' / 'model.onnx')!r})"
    plain = _cache_after(opened, tmp_path / "plain")
    if not plain:
        pytest.skip("this onnxruntime collects no telemetry, so there is nothing to switch off")
    ours = _cache_after("from pathlib import Path; from factory_ai.runtime import load_model; "
                        f"load_model(Path({str(model / 'v1')!r}))", tmp_path / "ours")
    assert ours == [], f"onnxruntime wrote its telemetry store: {ours}"
