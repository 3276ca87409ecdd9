"""``modbus``: poll holding and input registers of a Modbus TCP device.

Why it is built this way: PLCs and drives expose values as 16-bit registers, and each
vendor packs wider numbers differently, so every register entry states its type (int16,
uint16, int32, uint32, float32), the order of its two words, and a scale and offset to reach
engineering units. Registers next to each other are read in one request per poll (a
PLC answers one request of 20 registers faster than 20 of one). A register that decodes to
NaN or inf is counted as malformed; an exception response (a bad address) costs that block
for that poll, logged once per error; a lost connection is retried with backoff.
"""

from __future__ import annotations

import logging
import math
import struct
import time
from datetime import UTC, datetime

from factory_ai.connectors.base import Connector
from factory_ai.connectors.config import Modbus, Register
from factory_ai.ingest import ReadingWriter, SensorReading

log = logging.getLogger(__name__)

WORDS = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2}
_FORMAT = {"int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I", "float32": ">f"}
MAX_BLOCK = 120  # registers per request (the protocol allows 125)


def decode(words: list[int], register: Register) -> float:
    """Registers -> engineering value: type, word order, then ``value * scale + offset``."""
    n = WORDS[register.type]
    if len(words) != n:
        raise ValueError(f"{register.type} needs {n} registers, got {len(words)}")
    ordered = words if register.word_order == "big" else list(reversed(words))
    raw = struct.unpack(_FORMAT[register.type], struct.pack(f">{n}H", *ordered))[0]
    return float(raw) * register.scale + register.offset


def blocks(registers: list[Register], max_gap: int = 8) -> list[tuple[str, int, int, list[Register]]]:
    """Group registers into reads: ``(table, start, count, registers)``. Neighbours (gaps of
    at most ``max_gap`` unused registers) share one request of at most ``MAX_BLOCK``."""
    out: list[tuple[str, int, int, list[Register]]] = []
    for table in ("holding", "input"):
        for register in sorted((r for r in registers if r.table == table), key=lambda r: r.address):
            end = register.address + WORDS[register.type]
            if out and out[-1][0] == table:
                _, start, count, members = out[-1]
                if register.address <= start + count + max_gap and end - start <= MAX_BLOCK:
                    out[-1] = (table, start, max(count, end - start), [*members, register])
                    continue
            out.append((table, register.address, WORDS[register.type], [register]))
    return out


class ModbusConnector(Connector):
    kind = "modbus"

    def __init__(self, config: Modbus, writer: ReadingWriter) -> None:
        super().__init__(config.name)
        self.config, self.writer = config, writer
        self.client = None
        self.plan = blocks(config.registers)
        self.state.detail.update(device=f"{config.host}:{config.port}/{config.unit_id}", polls=0)

    def run(self) -> None:
        from pymodbus.client import ModbusTcpClient

        config = self.config
        self.client = ModbusTcpClient(config.host, port=config.port, timeout=max(0.5, min(3.0, config.interval_seconds)),
                                      retries=0)
        backoff = 0.5
        next_poll = time.monotonic()
        while not self.stopping.is_set():
            if not self.client.connected and not self.client.connect():
                self.failed(f"cannot reach {config.host}:{config.port}; retrying in {backoff:.1f} s")
                if self.stopping.wait(backoff):
                    break
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 0.5
            try:
                self.poll()
            except Exception as exc:  # noqa: BLE001 - pymodbus raises ModbusException/OSError on a lost link
                self.failed(f"poll of {config.host}:{config.port} failed: {exc}")
                self.client.close()
                continue
            next_poll += config.interval_seconds
            delay = next_poll - time.monotonic()
            if delay < 0:  # the device is slower than the interval: poll again now, do not pile up
                next_poll, delay = time.monotonic(), 0.0
            self.stopping.wait(delay)
        self.client.close()

    def close(self) -> None:
        if self.client is not None:
            self.client.close()

    def poll(self) -> int:
        """Read every block once and queue the readings; returns how many were queued."""
        ts = datetime.now(UTC)
        batch: list[SensorReading] = []
        answered = False
        for table, start, count, members in self.plan:
            read = self.client.read_holding_registers if table == "holding" else self.client.read_input_registers
            response = read(start, count=count, device_id=self.config.unit_id)
            if response.isError():
                self.malformed(f"{table} registers {start}..{start + count - 1}: device answered {response}")
                continue
            answered = True
            words = list(response.registers)
            for register in members:
                offset = register.address - start
                value = decode(words[offset:offset + WORDS[register.type]], register)
                if not math.isfinite(value):
                    self.malformed(f"{table} register {register.address} ({register.sensor}) holds {value}")
                    continue
                batch.append(SensorReading(register.asset, register.sensor, ts, value, register.unit))
        if answered:
            self.state.up, self.state.last_error = True, None
        self.state.detail["polls"] += 1
        accepted = self.writer.put_many(batch) if batch else 0
        self.data(accepted)
        return accepted
