"""The store on SQLite and on a real PostgreSQL: schema, UTC timestamps, constraints."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlmodel import select

from factory_ai.errors import StoreError
from factory_ai.store import Alert, Asset, Inspection, ModelVersion, Prediction, Reading, Sensor, Store
from factory_ai.store.schema import HEAD, MIGRATIONS, current_revision


def test_fresh_database_gets_the_schema(db_url: str) -> None:
    with Store(db_url) as store:
        with store.engine.connect() as conn:
            assert current_revision(conn) == HEAD
        names = set(store.engine.dialect.get_table_names(store.engine.connect()))
    assert {"assets", "sensors", "readings", "inspections", "predictions", "alerts", "model_versions"} <= names


def test_migrations_match_the_tables(db_url: str) -> None:
    """Autogenerate finds nothing to do: the migration scripts create exactly the tables."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    with Store(db_url) as store, store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    assert diff == []


def test_head_constant_is_alembics_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD


def test_timestamps_come_back_utc_aware(db_url: str) -> None:
    plant_time = datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    with Store(db_url) as store:
        with store.session() as s:
            asset = Asset(name="press-1", line="L1")
            s.add(asset)
            s.flush()
            sensor = Sensor(asset_id=asset.id, name="temperature", unit="degC")
            s.add(sensor)
            s.flush()
            s.add(Reading(sensor_id=sensor.id, ts=plant_time, value=71.5))
        with store.session() as s:
            reading = s.exec(select(Reading)).one()
            created = s.exec(select(Asset)).one().created_at
    assert reading.ts == plant_time
    assert reading.ts.tzinfo is not None and reading.ts.utcoffset() == timedelta(0)
    assert reading.ts.hour == 23  # 01:30 at UTC+2 is 23:30 UTC the day before
    assert created.tzinfo is not None and abs(datetime.now(UTC) - created) < timedelta(minutes=5)


def test_naive_datetime_is_refused(db_url: str) -> None:
    with Store(db_url) as store:
        with pytest.raises(StatementError, match="naive datetime"):
            with store.session() as s:
                s.add(Inspection(ts=datetime(2026, 1, 1, 12, 0), source="cam1", verdict="pass"))
        with store.session() as s:
            assert s.exec(select(Inspection)).all() == []


def test_duplicate_reading_violates_unique_key(db_url: str) -> None:
    ts = datetime(2026, 1, 1, tzinfo=UTC)
    with Store(db_url) as store:
        with store.session() as s:
            asset = Asset(name="pump")
            s.add(asset)
            s.flush()
            sensor = Sensor(asset_id=asset.id, name="vibration")
            s.add(sensor)
            s.flush()
            s.add(Reading(sensor_id=sensor.id, ts=ts, value=1.0))
        with pytest.raises(IntegrityError):
            with store.session() as s:
                s.add(Reading(sensor_id=sensor.id, ts=ts, value=2.0))


def test_every_table_round_trips(db_url: str) -> None:
    now = datetime.now(UTC)
    with Store(db_url) as store:
        with store.session() as s:
            asset = Asset(name="spindle-7", line="L2", kind="cnc")
            s.add(asset)
            s.flush()
            s.add(Prediction(asset_id=asset.id, rul=120.0, rul_low=90.0, rul_high=150.0, risk=0.1, horizon=30))
            s.add(Alert(key="rul:spindle-7", rule="rul_below", severity="warning", asset_id=asset.id, message="RUL 120"))
            s.add(ModelVersion(name="m", version="v1", family="vision-classifier", path="/m/v1", sha256="0" * 64,
                               metrics={"test": {"accuracy": 0.99}}))
            s.add(Inspection(source="a.png", verdict="reject", label="scratch", confidence=0.97,
                             scores={"good": 0.03, "scratch": 0.97}))
        with store.session() as s:
            assert s.exec(select(Prediction)).one().rul_low == 90.0
            alert = s.exec(select(Alert)).one()
            assert alert.count == 1 and alert.status == "open" and alert.first_seen >= now - timedelta(seconds=5)
            assert s.exec(select(ModelVersion)).one().metrics == {"test": {"accuracy": 0.99}}
            assert s.exec(select(Inspection)).one().scores["scratch"] == 0.97


def test_unknown_schema_revision_is_refused_and_upgrade_runs_cleanly(db_url: str) -> None:
    from factory_ai.store.schema import upgrade

    with Store(db_url) as store:
        with store.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    with pytest.raises(StoreError, match="newer than this factory-ai"):
        Store(db_url)
    with Store(db_url, check_schema=False) as store:
        with store.engine.begin() as conn:
            conn.execute(text(f"UPDATE alembic_version SET version_num = '{HEAD}'"))
        upgrade(store.engine)
    Store(db_url).close()


def test_database_with_foreign_tables_is_not_touched(db_url: str) -> None:
    with Store(db_url, check_schema=False) as store:
        with store.engine.begin() as conn:
            conn.execute(text("CREATE TABLE their_data (id INTEGER PRIMARY KEY)"))
    with pytest.raises(StoreError, match="did not create"):
        Store(db_url)


def test_unreachable_database_is_one_clear_error() -> None:
    with pytest.raises(StoreError, match="cannot open the database"):
        Store("postgresql+psycopg://nobody@127.0.0.1:1/none")


def test_a_silent_database_host_is_an_error_in_seconds_not_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that accepts the TCP connection and then says nothing (a hung host): opening
    the store fails after the connect timeout instead of hanging for the OS's TCP timeout."""
    import socket
    import time

    from factory_ai.store import engine

    monkeypatch.setattr(engine, "CONNECT_TIMEOUT", 2)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # the kernel completes the handshake; nobody ever answers
    try:
        start = time.monotonic()
        with pytest.raises(StoreError, match="cannot open the database"):
            Store(f"postgresql+psycopg://nobody@127.0.0.1:{silent.getsockname()[1]}/none")
        assert time.monotonic() - start < 20
    finally:
        silent.close()


def test_readings_keep_through_the_key_migration(db_url: str) -> None:
    """A store written before 0005 (readings with an id and a unique index) is upgraded in place:
    every reading survives, duplicates are still refused, and SQLite's table has no rowid."""
    from sqlalchemy import bindparam, create_engine

    from factory_ai.store.schema import upgrade
    from factory_ai.store.types import UTCDateTime

    engine = create_engine(db_url)
    try:
        upgrade(engine, "0004")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO assets (name, line, created_at) VALUES ('press-1', 'L1', '2026-03-01')"))
            conn.execute(text("INSERT INTO sensors (asset_id, name, created_at) VALUES (1, 'temp', '2026-03-01')"))
            insert = text("INSERT INTO readings (sensor_id, ts, value) VALUES (1, :ts, :v)").bindparams(
                bindparam("ts", type_=UTCDateTime))
            for minute in range(3):
                conn.execute(insert, {"ts": datetime(2026, 3, 1, 12, minute, tzinfo=UTC), "v": 70.0 + minute})
        upgrade(engine)
        with engine.connect() as conn:
            assert current_revision(conn) == HEAD
            if engine.dialect.name == "sqlite":
                ddl = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'readings'")).scalar_one()
                assert "WITHOUT ROWID" in ddl
    finally:
        engine.dispose()
    with Store(db_url) as store:
        with store.session() as s:
            assert [r.value for r in s.exec(select(Reading).order_by(Reading.ts))] == [70.0, 71.0, 72.0]
        with pytest.raises(IntegrityError), store.session() as s:
            s.add(Reading(sensor_id=1, ts=datetime(2026, 3, 1, 12, 1, tzinfo=UTC), value=1.0))


def test_two_lines_may_each_have_a_press_1(db_url: str, tmp_path) -> None:  # noqa: ANN001
    """An asset is known by line and name. A store from before 0006 upgrades in place; then the
    east and west daemons' writers each keep their own press-1, and every reader names them by
    key: the bare name where it is unique, line/name where it repeats."""
    from sqlalchemy import create_engine

    from factory_ai import events
    from factory_ai.errors import DataError
    from factory_ai.history.readers import read_store
    from factory_ai.ingest import ReadingWriter, SensorReading
    from factory_ai.reports import maintenance
    from factory_ai.reports.scope import make_scope
    from factory_ai.store.assets import keys_by_id, resolve
    from factory_ai.store.records import asset_ids
    from factory_ai.store.schema import upgrade

    engine = create_engine(db_url)
    try:
        upgrade(engine, "0005")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO assets (name, line, created_at) VALUES ('pump-9', 'east', '2026-03-01')"))
        upgrade(engine)
    finally:
        engine.dispose()
    now = datetime.now(UTC).replace(microsecond=0)
    with Store(db_url) as store:
        with store.session() as s:  # recorded before any reading: an asset without a line, taken by east
            events.record(s, "press-1", "maintenance", now - timedelta(hours=5))
        for line, base in (("east", 10.0), ("west", 50.0)):
            writer = ReadingWriter(store, tmp_path / line, line=line)
            writer.put_many([SensorReading("press-1", "temp", now - timedelta(hours=h), base + h) for h in range(3)]
                            + [SensorReading("pump-9", "flow", now - timedelta(hours=1), base)])
            writer.close(timeout=30)
        with store.session() as s:
            rows = s.exec(select(Asset.name, Asset.line).order_by(Asset.name, Asset.line)).all()
            assert [tuple(r) for r in rows] == [("press-1", "east"), ("press-1", "west"), ("pump-9", "east"),
                                                 ("pump-9", "west")]
            keys = sorted(keys_by_id(s).values())
            assert keys == ["east/press-1", "east/pump-9", "west/press-1", "west/pump-9"]
            with pytest.raises(DataError, match="east/press-1, west/press-1"):
                resolve(s, ["press-1"])
            east = resolve(s, ["east/press-1"])["east/press-1"]
            assert s.exec(select(text("count(*)")).select_from(Reading).join(Sensor, Sensor.id == Reading.sensor_id)
                          .where(Sensor.asset_id == east)).one() == 3
            with pytest.raises(IntegrityError), s.begin_nested():  # one press-1 per line
                s.add(Asset(name="press-1", line="west"))
                s.flush()
        history, _ = read_store(store, events=True)
        assert sorted(history.assets()) == keys
        per = history.per_asset()
        assert list(per["west/press-1"]["temp"]) == [52.0, 51.0, 50.0]
        assert list(per["east/press-1"]["temp"]) == [12.0, 11.0, 10.0]
        only, _ = read_store(store, assets=["west/press-1"])
        assert only.assets() == ["west/press-1"]
        # A forecast's assets: one the connectors never named (created without a line, or on its
        # line when named line/name), and a bare name on two lines, which is left out, not fatal.
        ids = asset_ids(store, ["west/press-1", "press-7", "west/press-8", "press-1", " press-1"])
        assert set(ids) == {"west/press-1", "press-7", "west/press-8", " press-1"}
        with store.session() as s:
            s.add(Prediction(asset_id=ids["west/press-1"], ts=now, rul=40.0, risk=0.7, horizon=48, model_name="m",
                             model_version="v1"))
            assert s.get(Asset, ids["press-7"]).line is None
            assert (s.get(Asset, ids["west/press-8"]).name, s.get(Asset, ids["west/press-8"]).line) == ("press-8", "west")
            assert s.get(Asset, ids[" press-1"]).name == " press-1"  # names are taken as given, never trimmed
        # A writer without a line (a backfill) writes to the asset a unique name means.
        writer = ReadingWriter(store, tmp_path / "backfill")
        writer.put_many([SensorReading("press-8", "temp", now - timedelta(hours=9), 1.0)])
        writer.close(timeout=30)
        with store.session() as s:
            assert s.exec(select(text("count(*)")).select_from(Asset).where(Asset.name == "press-8")).one() == 1
            assert events.listing(s, "east/press-1")[0][1] == "east/press-1"
        with store.session() as s:
            fleet = maintenance.gather(s, make_scope(since="1d")).fleet
        assert fleet[0].asset == "west/press-1" and fleet[0].line == "west" and fleet[0].rul == 40.0
        assert {h.asset for h in fleet} == {*keys, "press-7", "press-8", " press-1"}
