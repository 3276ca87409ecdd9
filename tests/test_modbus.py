"""The Modbus connector against a real pymodbus TCP server on 127.0.0.1."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from sqlmodel import select

from factory_ai.connectors.config import Modbus, Register
from factory_ai.connectors.modbus import ModbusConnector, blocks, decode
from factory_ai.ingest import ReadingWriter
from factory_ai.store import Store
from factory_ai.store.tables import Reading, Sensor
from tests.servers import wait_until

pytest.importorskip("pymodbus")
pytestmark = pytest.mark.slow


def _reg(address: int, type_: str, **extra) -> Register:
    return Register.model_validate({"address": address, "type": type_, "asset": "press-1", "sensor": f"r{address}",
                                    **extra})


def _words(fmt: str, value) -> list[int]:  # noqa: ANN001
    raw = struct.pack(">" + fmt, value)
    return list(struct.unpack(f">{len(raw) // 2}H", raw))


def test_decoding_types_word_order_scale_offset() -> None:
    assert decode([0xFFFE], _reg(0, "int16")) == -2
    assert decode([0xFFFE], _reg(0, "uint16")) == 65534
    assert decode(_words("i", -123456), _reg(0, "int32")) == -123456
    assert decode(_words("I", 4_000_000_000), _reg(0, "uint32")) == 4_000_000_000
    assert decode(_words("f", 3.5), _reg(0, "float32")) == 3.5
    assert decode(list(reversed(_words("f", 3.5))), _reg(0, "float32", word_order="little")) == 3.5
    assert decode([215], _reg(0, "int16", scale=0.1, offset=-20.0)) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="2 registers"):
        decode([1], _reg(0, "float32"))


def test_neighbouring_registers_share_a_request() -> None:
    plan = blocks([_reg(0, "uint16"), _reg(1, "float32"), _reg(40, "int16"), _reg(3, "int16", table="input")])
    assert [(t, start, count, len(m)) for t, start, count, m in plan] == [
        ("holding", 0, 3, 2), ("holding", 40, 1, 1), ("input", 3, 1, 1)]


@pytest.fixture
def server():
    from tests.servers import ModbusServer

    server = ModbusServer()
    server.start()
    yield server
    server.stop()


def _values(store: Store) -> dict[str, list[float]]:
    with store.session() as session:
        rows = session.exec(select(Sensor.name, Reading.value).join(Reading, Reading.sensor_id == Sensor.id)
                            .order_by(Reading.ts)).all()
    out: dict[str, list[float]] = {}
    for name, value in rows:
        out.setdefault(name, []).append(value)
    return out




def test_polls_decodes_survives_bad_registers_and_restarts(server, tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'factory.db'}")
    writer = ReadingWriter(store, tmp_path / "spool", flush_interval=0.05)
    server.set("holding", 0, [215])  # temperature: 21.5 after scale 0.1
    server.set("holding", 2, list(reversed(_words("f", 7.25))))  # little word order float
    server.set("input", 10, _words("i", -40000))
    server.set("holding", 20, _words("f", float("nan")))  # a sensor fault: NaN
    config = Modbus.model_validate({
        "kind": "modbus", "name": "press-plc", "host": "127.0.0.1", "port": server.port, "interval_seconds": 0.1,
        "registers": [
            {"address": 0, "type": "int16", "scale": 0.1, "asset": "press-1", "sensor": "temperature", "unit": "degC"},
            {"address": 2, "type": "float32", "word_order": "little", "asset": "press-1", "sensor": "pressure"},
            {"address": 10, "table": "input", "type": "int32", "asset": "press-1", "sensor": "position"},
            {"address": 20, "type": "float32", "asset": "press-1", "sensor": "flow"},
            {"address": 5000, "type": "uint16", "asset": "press-1", "sensor": "missing"},  # beyond the device
        ]})
    connector = ModbusConnector(config, writer)
    connector.start()
    assert wait_until(lambda: connector.state.detail["polls"] >= 5)
    assert connector.state.up
    assert connector.state.malformed >= 10  # the NaN register and the missing block, every poll
    writer.flush()
    values = _values(store)
    assert set(values) == {"temperature", "pressure", "position"}
    assert values["temperature"][0] == pytest.approx(21.5)
    assert values["pressure"][0] == 7.25
    assert values["position"][0] == -40000

    # The device goes away and comes back: the connector reconnects on its own.
    server.stop()
    assert wait_until(lambda: not connector.state.up)
    polls = connector.state.detail["polls"]
    server.start()
    server.set("holding", 0, [300])
    assert wait_until(lambda: connector.state.up and connector.state.detail["polls"] > polls + 2, 30)
    writer.flush()
    assert _values(store)["temperature"][-1] == pytest.approx(30.0)
    connector.stop()
    writer.close()
    store.close()
