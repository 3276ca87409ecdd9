"""Connector files (validation that names file and key) and the csv-replay connector."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from factory_ai.connectors.config import CsvReplay, ImageFolder, Modbus, Mqtt, OpcUa, load_file, load_folder
from factory_ai.connectors.csv_replay import replay
from factory_ai.errors import ConfigError
from factory_ai.ingest import ReadingWriter
from factory_ai.store import Store
from factory_ai.store.tables import Reading

ROOT = Path(__file__).resolve().parent.parent

FILES = {
    "replay.toml": 'kind = "csv-replay"\npath = "data/readings.csv"\ntime_column = "timestamp"\nspeed = 3600\n'
                   '[units]\nvibration = "mm/s"\n',
    "camera.toml": 'kind = "image-folder"\npath = "/srv/camera1"\nprocessed = "done"\nline = "line-3"\n',
    "plc.toml": 'kind = "opcua"\nendpoint = "opc.tcp://127.0.0.1:4840"\nreject_node = "ns=2;s=Reject"\n'
                '[[nodes]]\nnode = "ns=2;s=Press.Temp"\nasset = "press-1"\nsensor = "temperature"\nunit = "degC"\n',
    "broker.toml": 'kind = "mqtt"\ntopics = ["plant/+/telemetry"]\n'
                   '[[fields]]\nfield = "vib.rms"\nsensor = "vibration"\n',
    "meter.toml": 'kind = "modbus"\nhost = "127.0.0.1"\nport = 5020\n'
                  '[[registers]]\naddress = 10\ntype = "float32"\nword_order = "little"\nscale = 0.1\n'
                  'asset = "pump-1"\nsensor = "current"\n',
}


def test_every_kind_loads_with_its_defaults(tmp_path: Path) -> None:
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    configs = {c.name: c for c in load_folder(tmp_path)}
    assert isinstance(configs["replay"], CsvReplay) and configs["replay"].path == tmp_path / "data" / "readings.csv"
    assert configs["replay"].units == {"vibration": "mm/s"}
    assert isinstance(configs["camera"], ImageFolder) and configs["camera"].processed == tmp_path / "done"
    assert isinstance(configs["plc"], OpcUa) and configs["plc"].nodes[0].unit == "degC"
    assert isinstance(configs["broker"], Mqtt) and configs["broker"].qos == 1
    assert isinstance(configs["meter"], Modbus) and configs["meter"].registers[0].scale == 0.1


@pytest.mark.parametrize(("text", "message"), [
    ('kind = "csv-replay"\npath = "x.csv"\nsped = 10\n', "sped: unknown key"),
    ('kind = "csv-replay"\npath = "x.csv"\nspeed = -1\n', "speed: Input should be greater than 0"),
    ('kind = "modbus"\nhost = "h"\n[[registers]]\naddress = 1\ntype = "float64"\nasset = "a"\nsensor = "s"\n',
     "registers.0.type"),
    ('path = "x.csv"\n', "missing key 'kind'"),
    ('kind = "ftp"\n', "kind"),
    ('kind = "csv-replay"\npath = \n', "not valid TOML"),
    ('kind = "opcua"\nendpoint = "opc.tcp://h:4840"\nnodes = []\nsecurity_policy = "Basic256Sha256"\n'
     'security_mode = "SignAndEncrypt"\n', "needs certificate and private_key"),
    ('kind = "opcua"\nendpoint = "opc.tcp://h:4840"\nnodes = []\nsecurity_policy = "Aes256Sha256RsaPss"\n'
     'security_mode = "SignAndEncrypt"\ncertificate = "c.der"\nprivate_key = "k.pem"\n', "needs trust"),
])
def test_errors_name_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "line2.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_file(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_connector_names_must_be_unique(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('kind = "csv-replay"\npath = "x.csv"\nname = "same"\n')
    (tmp_path / "b.toml").write_text('kind = "csv-replay"\npath = "y.csv"\nname = "same"\n')
    with pytest.raises(ConfigError, match="named 'same'"):
        load_folder(tmp_path)


def _count(store: Store) -> int:
    with store.session() as session:
        return session.execute(select(func.count()).select_from(Reading)).scalar_one()


def test_csv_replay_stores_every_value_of_the_sample_fleet(tmp_path: Path) -> None:
    source = pd.read_csv(ROOT / "sample_data" / "fleet" / "readings.csv")
    source = source[source["asset"].isin(["pump-01", "pump-02"])]
    source.to_csv(tmp_path / "two.csv", index=False)
    config = CsvReplay(kind="csv-replay", name="fleet", path=tmp_path / "two.csv", time_column="timestamp",
                       speed=1e9, units={"vibration": "mm/s"})
    store = Store(f"sqlite:///{tmp_path / 'f.db'}")
    writer = ReadingWriter(store, tmp_path / "spool")
    accepted = replay(config, writer, threading.Event())
    stats = writer.close()
    assert accepted == len(source) * 5 == stats.written == _count(store)
    # Replaying the same file again with the same stamps stores nothing twice.
    config.restamp = False
    writer = ReadingWriter(store, tmp_path / "spool")
    replay(config, writer, threading.Event())
    again = writer.close()
    assert again.written == len(source) * 5  # first un-restamped pass: new timestamps
    writer = ReadingWriter(store, tmp_path / "spool")
    replay(config, writer, threading.Event())
    assert writer.close().duplicates == len(source) * 5


def test_csv_replay_keeps_time_and_stops_when_asked(tmp_path: Path) -> None:
    (tmp_path / "slow.csv").write_text("asset,time,x\na,0,1\na,10,2\na,20,3\na,1000,4\n")
    config = CsvReplay(kind="csv-replay", path=tmp_path / "slow.csv", speed=100, cycle_seconds=1.0)
    store = Store(f"sqlite:///{tmp_path / 'f.db'}")
    writer = ReadingWriter(store, tmp_path / "spool")
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    start = time.monotonic()
    accepted = replay(config, writer, stop)
    elapsed = time.monotonic() - start
    writer.close()
    assert accepted == 3  # the row 1,000 s later (10 s at speed 100) was never reached
    assert 0.45 <= elapsed < 2.0


def test_csv_replay_catching_up_never_stamps_the_future(tmp_path: Path) -> None:
    """A clock started 20 s in the past at speed 100 meets the present after about 0.2 s; rows
    after that arrive in real time, so each is stored no later than its stamp says."""
    rows = "".join(f"a,{t},{t}\n" for t in (0, 10, 19, 20.5, 21.5, 100))
    (tmp_path / "catch.csv").write_text("asset,time,x\n" + rows)
    config = CsvReplay(kind="csv-replay", path=tmp_path / "catch.csv", speed=100, cycle_seconds=1.0,
                       catch_up_hours=20 / 3600)
    store = Store(f"sqlite:///{tmp_path / 'f.db'}")
    writer = ReadingWriter(store, tmp_path / "spool")
    seen: list[tuple[datetime, datetime]] = []

    class Recording:
        def put_many(self, readings, timeout=None):  # noqa: ANN001, ANN202
            seen.extend((r.ts, datetime.now(UTC)) for r in readings)
            return writer.put_many(readings, timeout)

    stop = threading.Event()
    threading.Timer(2.5, stop.set).start()
    began = datetime.now(UTC)
    accepted = replay(config, Recording(), stop)
    writer.close()
    assert accepted == 5  # t=100 is 80 s past the present: real time now, never reached
    assert all(stamp <= stored for stamp, stored in seen)
    assert seen[0][0] < began - timedelta(seconds=19)  # the clock started 20 s back
    assert seen[-1][1] - began > timedelta(seconds=1.4)  # t=21.5 waited for the wall clock
    assert _count(store) == 5


def test_the_committed_connector_files_are_valid() -> None:
    configs = load_folder(ROOT / "connectors")
    assert {c.kind for c in configs} >= {"csv-replay", "image-folder"}
    replay_config = next(c for c in configs if c.kind == "csv-replay")
    assert replay_config.path.is_file()


def test_csv_replay_of_a_real_femto_bearing_run(tmp_path: Path) -> None:
    """The FEMTO/PRONOSTIA Bearing3_1 folder (real run to failure) replayed as features, one
    snapshot per 10 s: every snapshot stored, and the bearing's vibration grows toward failure."""
    from factory_ai.store.tables import Sensor
    from tests.conftest import shared_dataset

    folder = shared_dataset("femto_pronostia_bearing3_1")
    config = CsvReplay(kind="csv-replay", name="bearing", path=folder, cycle_seconds=10, speed=1e9,
                       units={"h_rms": "g", "v_rms": "g"})
    store = Store(f"sqlite:///{tmp_path / 'f.db'}")
    writer = ReadingWriter(store, tmp_path / "spool")
    accepted = replay(config, writer, threading.Event())
    assert writer.close().written == accepted == 515 * 20  # 10 vibration features per axis
    with store.session() as session:
        rows = session.execute(select(Reading.ts, Reading.value).join(Sensor, Sensor.id == Reading.sensor_id)
                               .where(Sensor.name == "h_rms").order_by(Reading.ts)).all()
    assert len(rows) == 515
    assert (rows[1][0] - rows[0][0]).total_seconds() == 10
    values = [v for _, v in rows]
    assert sum(values[-20:]) > 1.5 * sum(values[:20])  # wear shows: RMS 0.87 g at the end, 0.47 g at the start
    store.close()


def test_the_daemon_loads_the_folder_or_the_files_the_config_names(tmp_path: Path) -> None:
    from factory_ai.config import load_settings
    from factory_ai.daemon.service import load_connectors

    folder = tmp_path / "connectors"
    folder.mkdir()
    for name in ("a", "b"):
        (folder / f"{name}.toml").write_text(f'kind = "csv-replay"\npath = "{name}.csv"\n')
    (tmp_path / "elsewhere.toml").write_text('kind = "image-folder"\npath = "cam"\n')
    config = tmp_path / "factory.toml"
    config.write_text("[daemon]\n")
    assert [c.name for c in load_connectors(load_settings(config, environ={}))] == ["a", "b"]
    config.write_text('[daemon]\nconnectors = ["connectors/b.toml", "elsewhere.toml"]\n')
    assert [c.name for c in load_connectors(load_settings(config, environ={}))] == ["b", "elsewhere"]
    config.write_text('[daemon]\nconnectors = ["missing.toml"]\n')
    with pytest.raises(ConfigError, match="missing.toml"):
        load_connectors(load_settings(config, environ={}))
