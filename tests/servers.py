"""Real servers for tests, started on 127.0.0.1 in a temporary folder and stopped afterwards.

Each starter raises :class:`Unavailable` with the reason when the server's program is not
installed, so the fixture can skip with a clear message instead of failing.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path


class Unavailable(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


def wait_until(predicate, timeout: float = 20.0, step: float = 0.05) -> bool:  # noqa: ANN001
    """Poll ``predicate`` until it is true or ``timeout`` passes; returns its last value, so a
    test can ``assert wait_until(...)`` and fail with the state it was waiting for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


@dataclass
class Postgres:
    url: str
    port: int
    data_dir: Path
    _bin: Path
    _as_user: list[str]
    _options: str = ""

    def pause(self) -> None:
        """Stop the server but keep its data: the database 'goes away' for a while."""
        subprocess.run([*self._as_user, str(self._bin / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"],
                       capture_output=True, timeout=60, check=True)

    def resume(self) -> None:
        subprocess.run([*self._as_user, str(self._bin / "pg_ctl"), "-D", str(self.data_dir), "-o", self._options,
                        "-l", str(self.data_dir / "server.log"), "-w", "start"], capture_output=True, timeout=60,
                       check=True)

    def stop(self) -> None:
        subprocess.run([*self._as_user, str(self._bin / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def psql(self, sql: str) -> str:
        out = subprocess.run([str(self._bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "factory",
                              "-d", "postgres", "-Atc", sql], capture_output=True, text=True, check=True, timeout=60)
        return out.stdout


def _postgres_bin() -> Path:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(os.path.join(candidate, "initdb"), os.X_OK):
            return Path(candidate)
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise Unavailable("PostgreSQL is not installed (make system-deps, or apt-get install postgresql)")


def start_postgres() -> Postgres:
    """A throw-away PostgreSQL cluster with trust auth for user ``factory`` on a free port."""
    bindir = _postgres_bin()
    data = Path(tempfile.mkdtemp(prefix="factory-ai-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as the postgres user
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            raise Unavailable("running as root and there is no 'postgres' user to run PostgreSQL as") from None
        os.chown(data, user.pw_uid, user.pw_gid)
        runuser = shutil.which("runuser") or shutil.which("su")
        if runuser is None:
            raise Unavailable("running as root without runuser/su to drop to the postgres user")
        as_user = [runuser, "-u", "postgres", "--"] if runuser.endswith("runuser") else [runuser, "postgres", "-c"]
    port = free_port()
    run = lambda *cmd: subprocess.run([*as_user, *cmd], capture_output=True, text=True, timeout=120)  # noqa: E731
    init = run(str(bindir / "initdb"), "-D", str(data), "-U", "factory", "--auth=trust", "-E", "UTF8", "--no-sync")
    if init.returncode != 0:
        shutil.rmtree(data, ignore_errors=True)
        raise Unavailable(f"initdb failed: {init.stderr.strip()[-300:]}")
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    start = run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(data / "server.log"), "-w", "start")
    if start.returncode != 0:
        log = (data / "server.log").read_text(errors="replace")[-500:] if (data / "server.log").exists() else ""
        shutil.rmtree(data, ignore_errors=True)
        raise Unavailable(f"PostgreSQL did not start: {start.stderr.strip()[-300:]} {log}")
    server = Postgres(url=f"postgresql+psycopg://factory@127.0.0.1:{port}/postgres", port=port, data_dir=data,
                      _bin=bindir, _as_user=as_user, _options=options)
    return server


def _mosquitto_bin() -> str:
    for candidate in (shutil.which("mosquitto"), "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise Unavailable("Mosquitto is not installed (make system-deps, or apt-get install mosquitto)")


@dataclass
class Mosquitto:
    """A private Mosquitto broker with persistence on, so QoS 1 sessions survive a restart."""

    port: int
    folder: Path
    _bin: str
    _process: subprocess.Popen | None = None
    secure: str = ""  # extra listener settings: TLS files and a password file

    def start(self) -> None:
        config = self.folder / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\n{self.secure}"
            f"allow_anonymous {'false' if self.secure else 'true'}\npersistence true\n"
            f"persistence_location {self.folder}/\nautosave_interval 1\nlog_dest file {self.folder}/broker.log\n"
            "max_queued_messages 100000\n")
        self._process = subprocess.Popen([self._bin, "-c", str(config)], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
        try:
            wait_for_port(self.port, 10)
        except TimeoutError:
            self.stop()
            log = (self.folder / "broker.log").read_text(errors="replace")[-500:] if (self.folder / "broker.log").exists() else ""
            raise Unavailable(f"Mosquitto did not start: {log}") from None

    def stop(self) -> None:
        """Stop the broker the way systemd would (SIGTERM: it saves its persistence file)."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_mosquitto(users: dict[str, str] | None = None) -> Mosquitto:
    """A broker on 127.0.0.1; with ``users``, TLS only (``folder/ca.pem`` signs its certificate)
    and only those users may connect."""
    broker = Mosquitto(port=free_port(), folder=Path(tempfile.mkdtemp(prefix="factory-ai-mqtt-")),
                       _bin=_mosquitto_bin())
    if users:
        passwd_tool = shutil.which("mosquitto_passwd")
        if passwd_tool is None:
            raise Unavailable("mosquitto_passwd is not installed")
        tls_files(broker.folder)
        for i, (user, password) in enumerate(users.items()):
            subprocess.run([passwd_tool, "-b", *(["-c"] if i == 0 else []), str(broker.folder / "passwd"), user,
                            password], check=True, capture_output=True)
        broker.secure = (f"cafile {broker.folder}/ca.pem\ncertfile {broker.folder}/server.pem\n"
                         f"keyfile {broker.folder}/server.key\npassword_file {broker.folder}/passwd\n")
    if os.geteuid() == 0:  # mosquitto drops to the 'mosquitto' user when started as root
        try:
            user = pwd.getpwnam("mosquitto")
            for path in [broker.folder, *broker.folder.iterdir()]:
                os.chown(path, user.pw_uid, user.pw_gid)
        except KeyError:
            pass
    broker.start()
    return broker


def tls_files(folder: Path) -> None:
    """A private CA (ca.pem) and a server certificate for 127.0.0.1 signed by it."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "factory-ai test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.TraditionalOpenSSL,
                                                          serialization.NoEncryption()))


class ModbusServer:
    """A real pymodbus TCP server in a background thread, with registers the test can set."""

    def __init__(self, port: int | None = None, size: int = 200) -> None:
        self.port = port or free_port()
        self.size = size
        self._loop = None
        self._server = None
        self._thread = None

    def start(self) -> None:
        import asyncio
        import threading

        from pymodbus.datastore import ModbusDeviceContext, ModbusSequentialDataBlock, ModbusServerContext
        from pymodbus.server import ModbusTcpServer

        # Block address 1 holds register 0 (pymodbus counts data-model addresses from 1).
        context = ModbusServerContext(devices=ModbusDeviceContext(
            hr=ModbusSequentialDataBlock(1, [0] * self.size), ir=ModbusSequentialDataBlock(1, [0] * self.size)),
            single=True)
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def serve() -> None:
            self._server = ModbusTcpServer(context, address=("127.0.0.1", self.port))
            ready.set()
            await self._server.serve_forever()

        self._thread = threading.Thread(target=lambda: self._loop.run_until_complete(serve()), daemon=True)
        self._thread.start()
        ready.wait(10)
        wait_for_port(self.port, 10)

    def set(self, table: str, address: int, words: list[int]) -> None:
        import asyncio

        code = 3 if table == "holding" else 4
        asyncio.run_coroutine_threadsafe(self._server.async_setValues(1, code, address, words), self._loop).result(5)

    def stop(self) -> None:
        import asyncio

        if self._server is not None:
            asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop).result(10)
            self._thread.join(10)
            self._loop.close()
            self._server = None


class OpcUaServer:
    """A real asyncua OPC UA server in a background thread: a press with a few variables and
    a writable reject bit, optionally requiring a user name and password."""

    VARIABLES = {"Temperature": 20.0, "Pressure": 5.0, "Reject": False, "Vibration": [0.0] * 8}

    def __init__(self, port: int | None = None, users: dict[str, str] | None = None,
                 certificate: Path | None = None, private_key: Path | None = None,
                 policy: str = "Basic256Sha256_SignAndEncrypt") -> None:
        self.policy = policy
        self.port = port or free_port()
        self.users = users
        self.certificate, self.private_key = certificate, private_key
        self.endpoint = f"opc.tcp://127.0.0.1:{self.port}/factory/"
        self._loop = None
        self._thread = None
        self._server = None
        self.nodes: dict[str, object] = {}
        self.namespace = 2

    def node_id(self, name: str) -> str:
        return f"ns={self.namespace};s=Press1.{name}"

    def start(self) -> None:
        import asyncio
        import threading

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)
        wait_for_port(self.port, 10)

    async def _start(self) -> None:
        from asyncua import Server, ua
        from asyncua.crypto.permission_rules import User, UserRole

        users = self.users

        class _Users:
            def get_user(self, iserver, username=None, password=None, certificate=None):  # noqa: ANN001, ANN202
                if users is None:
                    return User(role=UserRole.User)
                if username in users and users[username] == password:
                    return User(role=UserRole.User)
                return None

        server = Server(user_manager=_Users())
        await server.init()
        server.set_endpoint(self.endpoint)
        if self.certificate is not None:  # encrypted sessions only
            await server.load_certificate(str(self.certificate))
            await server.load_private_key(str(self.private_key))
            server.set_security_policy([getattr(ua.SecurityPolicyType, self.policy)])
        else:
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        if users is not None:
            server.set_identity_tokens([ua.UserNameIdentityToken])
        self.namespace = await server.register_namespace("urn:factory-ai:test")
        press = await server.nodes.objects.add_object(ua.NodeId("Press1", self.namespace), "Press1")
        for name, value in self.VARIABLES.items():
            node = await press.add_variable(ua.NodeId(f"Press1.{name}", self.namespace), name, value)
            await node.set_writable()
            self.nodes[name] = node
        await server.start()
        self._server = server

    def set(self, name: str, value) -> None:  # noqa: ANN001
        import asyncio

        asyncio.run_coroutine_threadsafe(self.nodes[name].write_value(value), self._loop).result(10)

    def get(self, name: str):  # noqa: ANN201
        import asyncio

        return asyncio.run_coroutine_threadsafe(self.nodes[name].read_value(), self._loop).result(10)

    def stop(self) -> None:
        import asyncio

        if self._server is not None:
            asyncio.run_coroutine_threadsafe(self._server.stop(), self._loop).result(30)
            self._server = None
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()
            self._loop = None


def self_signed(folder: Path, name: str, uri: str, server: bool) -> tuple[Path, Path]:
    """A certificate (DER) and private key (PEM) for an OPC UA application, as plants make them."""
    import asyncio
    import socket as _socket

    from asyncua.crypto.cert_gen import setup_self_signed_certificate
    from cryptography.x509.oid import ExtendedKeyUsageOID

    cert, key = folder / f"{name}.der", folder / f"{name}.pem"
    use = [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
    asyncio.run(setup_self_signed_certificate(key, cert, uri, _socket.gethostname(), use, {"commonName": name}))
    return cert, key


class WebhookServer:
    """A real HTTP server on 127.0.0.1 that records every POST; ``status`` sets its answer
    (500 plays a receiver that is up but broken)."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.received: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if owner.status < 300:
                    owner.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(owner.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class SmtpServer:
    """A real SMTP server (aiosmtpd) on 127.0.0.1. With ``users``: STARTTLS with a private CA
    (``folder/ca.pem``) and AUTH required, over TLS only."""

    def __init__(self, users: dict[str, str] | None = None) -> None:
        import ssl

        try:
            from aiosmtpd.controller import Controller
            from aiosmtpd.smtp import AuthResult
        except ImportError as exc:
            raise Unavailable("aiosmtpd is not installed") from exc
        self.messages: list = []
        self.folder = Path(tempfile.mkdtemp(prefix="factory-ai-smtp-"))
        owner = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN202, N802
                import email

                owner.messages.append(email.message_from_bytes(envelope.original_content or envelope.content))
                return "250 OK"

        def authenticate(server, session, envelope, mechanism, auth_data):  # noqa: ANN001, ANN202
            login = auth_data.login.decode() if isinstance(auth_data.login, bytes) else auth_data.login
            password = auth_data.password.decode() if isinstance(auth_data.password, bytes) else auth_data.password
            return AuthResult(success=(users or {}).get(login) == password, handled=False)

        self.port = free_port()
        kwargs: dict = {}
        if users:
            tls_files(self.folder)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.folder / "server.pem", self.folder / "server.key")
            kwargs = dict(tls_context=context, require_starttls=True, authenticator=authenticate,
                          auth_required=True, auth_require_tls=True)
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **kwargs)
        self._controller.start()

    def close(self) -> None:
        self._controller.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
