"""Sparkplug B: the payload, the topic, and the bookkeeping a host application owes each edge node.

Why this module exists: Sparkplug B is what SCADA and IIoT platforms (Ignition, ThingsBoard,
StreamPipes, HiveMQ's tooling) speak over MQTT. A plain JSON subscriber cannot read it: values
arrive as protobuf, names are sent once in a *birth* certificate and then replaced by numeric
aliases, and whether a machine is alive is told by birth and death certificates, not by
silence. This module holds what the MQTT connector needs for that, and nothing about the
connection itself:

- :data:`Payload`, the ``org.eclipse.tahu.protobuf.Payload`` message, built at import from a
  descriptor written here with Google's protobuf library doing the wire format. Only the
  scalar part of a metric is described (name, alias, timestamp, datatype, the flags and the
  scalar values); data sets, templates, metadata and property sets stay unknown fields that
  protobuf keeps and skips, since none of them is a sensor reading.
- :func:`parse_topic` for ``spBv1.0/<group>/<type>/<edge node>[/<device>]`` and the host
  applications' ``spBv1.0/STATE/<host>``.
- :class:`HostBook`: per edge node, the alias table from its births, its ``bdSeq`` and ``seq``
  (a gap means a lost message and asks for a rebirth), and whether it and its devices are
  online, as /health and the ``connector_down`` rule show them.
- :class:`EdgeNode`: the daemon as an edge node of its own, so a SCADA that reads only Sparkplug
  gets verdicts and alerts: one device per line (and one called ``alerts``), born on first use.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

NAMESPACE = "spBv1.0"
NODE_TYPES = ("NBIRTH", "NDEATH", "NDATA", "NCMD")
DEVICE_TYPES = ("DBIRTH", "DDEATH", "DDATA", "DCMD")
REBIRTH = "Node Control/Rebirth"
BD_SEQ = "bdSeq"

# Sparkplug B datatypes (specification 3.0, section 6.4.16), by code.
INT8, INT16, INT32, INT64 = 1, 2, 3, 4
UINT8, UINT16, UINT32, UINT64 = 5, 6, 7, 8
FLOAT, DOUBLE, BOOLEAN, STRING, DATETIME, TEXT = 9, 10, 11, 12, 13, 14
_NUMERIC = {INT8, INT16, INT32, INT64, UINT8, UINT16, UINT32, UINT64, FLOAT, DOUBLE, BOOLEAN}
_SIGNED_BITS = {INT8: 8, INT16: 16, INT32: 32, INT64: 64}
# Numeric arrays (Int8Array 22 to DoubleArray 31): little-endian values packed in bytes_value.
# An accelerometer gateway sends a waveform snapshot as one of these.
INT8_ARRAY, INT16_ARRAY, FLOAT_ARRAY, DOUBLE_ARRAY = 22, 23, 30, 31
_ARRAYS = {22: "<i1", 23: "<i2", 24: "<i4", 25: "<i8", 26: "<u1", 27: "<u2", 28: "<u4", 29: "<u8", 30: "<f4", 31: "<f8"}


def _schema() -> type:
    """The Payload message class, from a descriptor that mirrors Eclipse Tahu's ``sparkplug_b.proto``."""
    f = descriptor_pb2.FieldDescriptorProto
    optional, repeated = f.LABEL_OPTIONAL, f.LABEL_REPEATED
    file = descriptor_pb2.FileDescriptorProto(name="factory_ai_sparkplug_b.proto", package="org.eclipse.tahu.protobuf",
                                              syntax="proto2")
    payload = file.message_type.add(name="Payload")
    metric = payload.nested_type.add(name="Metric")
    metric.oneof_decl.add(name="value")
    for number, name, kind in ((1, "name", f.TYPE_STRING), (2, "alias", f.TYPE_UINT64), (3, "timestamp", f.TYPE_UINT64),
                               (4, "datatype", f.TYPE_UINT32), (5, "is_historical", f.TYPE_BOOL),
                               (6, "is_transient", f.TYPE_BOOL), (7, "is_null", f.TYPE_BOOL)):
        metric.field.add(name=name, number=number, label=optional, type=kind)
    for number, name, kind in ((10, "int_value", f.TYPE_UINT32), (11, "long_value", f.TYPE_UINT64),
                               (12, "float_value", f.TYPE_FLOAT), (13, "double_value", f.TYPE_DOUBLE),
                               (14, "boolean_value", f.TYPE_BOOL), (15, "string_value", f.TYPE_STRING),
                               (16, "bytes_value", f.TYPE_BYTES)):
        metric.field.add(name=name, number=number, label=optional, type=kind, oneof_index=0)
    payload.field.add(name="timestamp", number=1, label=optional, type=f.TYPE_UINT64)
    payload.field.add(name="metrics", number=2, label=repeated, type=f.TYPE_MESSAGE,
                      type_name=".org.eclipse.tahu.protobuf.Payload.Metric")
    payload.field.add(name="seq", number=3, label=optional, type=f.TYPE_UINT64)
    payload.field.add(name="uuid", number=4, label=optional, type=f.TYPE_STRING)
    payload.field.add(name="body", number=5, label=optional, type=f.TYPE_BYTES)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("org.eclipse.tahu.protobuf.Payload"))


Payload = _schema()


def now_ms() -> int:
    return int(time.time() * 1000)


# -- topics --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Topic:
    kind: str  # NBIRTH ... DCMD, or STATE
    group: str = ""
    edge: str = ""
    device: str | None = None
    host: str | None = None  # STATE only

    @property
    def node(self) -> str:
        return f"{self.group}/{self.edge}"


def parse_topic(topic: str) -> Topic:
    """The parts of a Sparkplug B topic; ValueError for anything else."""
    levels = topic.split("/")
    if len(levels) == 3 and levels[0] == NAMESPACE and levels[1] == "STATE":
        return Topic("STATE", host=levels[2])
    if len(levels) not in (4, 5) or levels[0] != NAMESPACE:
        raise ValueError(f"{topic!r} is not a Sparkplug B topic (spBv1.0/<group>/<type>/<edge node>[/<device>])")
    kind = levels[2]
    if kind in NODE_TYPES and len(levels) == 4:
        return Topic(kind, levels[1], levels[3])
    if kind in DEVICE_TYPES and len(levels) == 5:
        return Topic(kind, levels[1], levels[3], levels[4])
    raise ValueError(f"{topic!r}: {kind!r} is not a Sparkplug B message type for this many topic levels")


def topic(group: str, kind: str, edge: str, device: str | None = None) -> str:
    return "/".join([NAMESPACE, group, kind, edge] + ([device] if device else []))


# -- metric values ---------------------------------------------------------------------------------
_VALUE_FIELDS = {"int_value", "long_value", "float_value", "double_value", "boolean_value"}


def metric_number(metric: Any, datatype: int | None = None) -> float | None:
    """A metric's value as a float when it is a number or a boolean; None for text, bytes, nulls.

    ``datatype`` is the one its birth declared: the specification lets data messages leave the
    datatype out. Signed integers travel as unsigned two's complement (Int8 to Int32 in 32
    bits, Int64 in 64); some older encoders wrote Int8 and Int16 in their own width, which is
    undone too. A value in a field that does not hold numbers (a string for an Int32) is None.
    """
    kind = _kind(metric, datatype)
    if metric.is_null or kind not in _NUMERIC:
        return None
    which = metric.WhichOneof("value")
    if which not in _VALUE_FIELDS:
        return None
    value = getattr(metric, which)
    if kind in _SIGNED_BITS and which in ("int_value", "long_value"):
        bits = 64 if which == "long_value" else 32
        if value >= 1 << (bits - 1):
            value -= 1 << bits
        own = _SIGNED_BITS[kind]
        if own < bits and (1 << (own - 1)) <= value < (1 << own):
            value -= 1 << own
    return float(value)


MAX_ARRAY = 1 << 20  # values in one array metric; a longer one is refused before it is widened


def metric_array(metric: Any, datatype: int | None = None) -> np.ndarray | None:
    """A numeric array metric's values (float64); None for anything that is not one (or a null).
    ValueError for a torn array (not a whole number of values) or one of more than
    ``MAX_ARRAY`` values, refused before it is widened."""
    kind = _kind(metric, datatype)
    if metric.is_null or kind not in _ARRAYS:
        return None
    dtype = np.dtype(_ARRAYS[kind])
    size = len(metric.bytes_value) if metric.WhichOneof("value") == "bytes_value" else -1
    if size < 0 or size % dtype.itemsize or size // dtype.itemsize > MAX_ARRAY:
        raise ValueError(f"array metric {metric.name or metric.alias!r}: {size} bytes of {dtype.itemsize}-byte values")
    return np.frombuffer(metric.bytes_value, dtype=dtype).astype(np.float64)


def _kind(metric: Any, datatype: int | None) -> int | None:
    """The metric's datatype: its own, or the one its birth declared (data may leave it out)."""
    return metric.datatype if metric.HasField("datatype") and metric.datatype else datatype


def set_value(metric: Any, datatype: int, value: Any) -> None:
    """Fill a metric's datatype and value (the encoder's half of :func:`metric_number` and
    :func:`metric_array`)."""
    metric.datatype = datatype
    if value is None:
        metric.is_null = True
    elif datatype in _ARRAYS:
        metric.bytes_value = np.asarray(value, dtype=_ARRAYS[datatype]).tobytes()
    elif datatype in (INT8, INT16, INT32, UINT8, UINT16, UINT32):
        metric.int_value = int(value) % (1 << 32)
    elif datatype in (INT64, UINT64, DATETIME):
        metric.long_value = int(value) % (1 << 64)
    elif datatype == FLOAT:
        metric.float_value = float(value)
    elif datatype == DOUBLE:
        metric.double_value = float(value)
    elif datatype == BOOLEAN:
        metric.boolean_value = bool(value)
    elif datatype in (STRING, TEXT):
        metric.string_value = str(value)
    else:
        raise ValueError(f"datatype {datatype} is not one this encoder writes")


def encode(metrics: Iterable[tuple[str | None, int | None, int, Any]], *, seq: int | None, timestamp: int | None = None
           ) -> bytes:
    """A payload from ``(name, alias, datatype, value)`` tuples (name or alias may be None)."""
    payload = Payload(timestamp=timestamp if timestamp is not None else now_ms())
    if seq is not None:
        payload.seq = seq
    for name, alias, datatype, value in metrics:
        metric = payload.metrics.add()
        if name is not None:
            metric.name = name
        if alias is not None:
            metric.alias = alias
        set_value(metric, datatype, value)
        if name is None:
            metric.ClearField("datatype")  # data by alias: the birth declared the type
    return payload.SerializeToString()


def decode(data: bytes) -> Any:
    try:
        return Payload.FromString(data)
    except Exception as exc:  # noqa: BLE001 - protobuf raises its own DecodeError; the message is what matters
        raise ValueError(f"payload is not a Sparkplug B protobuf ({exc})") from None


# -- the host's side: what each edge node has said -------------------------------------------------
@dataclass
class NodeState:
    online: bool = False
    bd_seq: int | None = None
    seq: int | None = None
    aliases: dict[int, str] = field(default_factory=dict)
    types: dict[str, int] = field(default_factory=dict)  # metric name -> datatype from its birth
    devices: dict[str, bool] = field(default_factory=dict)
    births: int = 0
    deaths: int = 0
    seq_gaps: int = 0
    since: float = field(default_factory=time.time)
    reason: str = "no birth certificate seen yet"

    def as_dict(self) -> dict[str, Any]:
        return {"online": self.online, "bdSeq": self.bd_seq, "births": self.births, "deaths": self.deaths,
                "seq_gaps": self.seq_gaps, "devices": dict(self.devices), "since": round(self.since, 3),
                **({} if self.online else {"reason": self.reason})}

    def names(self) -> int:
        """What this node holds in the book: its aliases, its metrics' types and its devices."""
        return len(self.aliases) + len(self.types) + len(self.devices)


@dataclass
class Values:
    """What one message said: ``(metric name, time, value)`` per numeric metric; the value is
    a float, or an array of floats for an array metric (a waveform snapshot, say)."""

    node: str
    device: str | None
    points: list[tuple[str, datetime, float | np.ndarray]]
    unknown_aliases: int = 0
    bad_metrics: int = 0
    rebirth: bool = False  # the host should ask this node for a rebirth


class HostBook:
    """The state of every edge node heard, kept as the Sparkplug B specification asks a host to.

    ``read`` takes one message and returns its values with their metric names (aliases resolved
    from the births), and says when the node should be asked to rebirth: after a gap in ``seq``
    (a message was lost) or when data names an alias no birth declared.
    """

    # The book is kept for months, and every name in it comes from a message anyone on the broker
    # can publish, so it is bounded: a publisher that invents nodes, devices or metrics costs
    # its own messages, not the daemon's memory. A plant's Sparkplug namespace (hundreds of edge
    # nodes, thousands of devices, two names per metric) fits well inside. A name costs about
    # 125 bytes (measured with tracemalloc: 20,101 names of 40-character metrics in 2.5 MB), so
    # a full book holds some 25 MB.
    MAX_NODES = 10_000
    MAX_NAMES = 200_000  # aliases, metric types and devices of all edge nodes together
    MAX_HOSTS = 1_000

    def __init__(self) -> None:
        self.nodes: dict[str, NodeState] = {}
        self.hosts: dict[str, bool] = {}
        self.refused = 0  # messages refused because the book was full
        self._names = 0  # the sum of every node's names()
        self._lock = threading.Lock()

    def read(self, where: Topic, data: bytes) -> Values | None:
        """The message's values; ValueError for a payload that cannot be read or a book that is full
        (a refused message changes nothing)."""
        if where.kind == "STATE":
            online = _host_online(data)
            host = where.host or ""
            with self._lock:
                if host not in self.hosts and len(self.hosts) >= self.MAX_HOSTS:
                    self._refuse(f"host application {host!r}", f"{self.MAX_HOSTS:,} host applications")
                self.hosts[host] = online
            return None
        if where.kind in ("NCMD", "DCMD"):
            return None  # commands to edge nodes, not data
        payload = decode(data)
        with self._lock:
            node = self.nodes.get(where.node)
            if node is None and len(self.nodes) >= self.MAX_NODES:
                self._refuse(f"edge node {where.node!r}", f"{self.MAX_NODES:,} edge nodes")
            held = 0 if node is None else node.names()
            stale = _device_types(node, where.device) if where.kind == "DBIRTH" and node is not None else []
            if where.kind == "NBIRTH":
                kept = held - len(node.aliases) - len(node.types) if node is not None else 0
            else:
                kept = held - len(stale)
            coming = 2 * len(payload.metrics) + 1 if where.kind in ("NBIRTH", "DBIRTH") else 1  # at most
            if self._names - held + kept + coming > self.MAX_NAMES:
                self._refuse(f"message from {where.node!r}", f"{self.MAX_NAMES:,} names (aliases, metrics, devices)")
            if node is None:
                node = self.nodes[where.node] = NodeState()
            for key in stale:  # a device's birth replaces what it declared before
                del node.types[key]
            try:
                return self._read(node, where, payload)
            finally:
                self._names += node.names() - held

    def _refuse(self, what: str, bound: str) -> None:
        self.refused += 1
        raise ValueError(f"{what} not tracked: {bound} are held already (a publisher inventing names?)")

    def _read(self, node: NodeState, where: Topic, payload: Any) -> Values:
        out = Values(where.node, where.device, [])
        if where.kind == "NDEATH":
            death_seq = _bd_seq(payload)
            if node.bd_seq is None or death_seq is None or death_seq == node.bd_seq:
                node.online, node.deaths, node.since = False, node.deaths + 1, time.time()
                node.reason = "death certificate (NDEATH): the edge node lost its connection or shut down"
                node.devices = dict.fromkeys(node.devices, False)
            return out  # a death from an older session (another bdSeq) changes nothing
        if where.kind == "NBIRTH":
            node.aliases.clear()
            node.types.clear()
            node.online, node.births, node.since, node.bd_seq = True, node.births + 1, time.time(), _bd_seq(payload)
            node.devices = dict.fromkeys(node.devices, False)  # devices are reborn after their node
        elif payload.HasField("seq") and node.seq is not None:
            expected = (node.seq + 1) % 256
            if payload.seq != expected:
                node.seq_gaps += 1
                out.rebirth = True
        if payload.HasField("seq"):
            node.seq = int(payload.seq)
        if not node.online and where.kind != "NBIRTH":
            out.rebirth = True  # data from a node whose birth we never saw (or after its death)
        if where.kind == "DBIRTH":
            node.devices[where.device or ""] = True
        elif where.kind == "DDEATH":
            node.devices[where.device or ""] = False
            return out
        stamp = payload.timestamp if payload.HasField("timestamp") else None
        for metric in payload.metrics:
            if metric.HasField("name") and metric.name:
                name = metric.name
                if where.kind in ("NBIRTH", "DBIRTH"):
                    if metric.HasField("alias"):
                        node.aliases[int(metric.alias)] = name
                    if metric.datatype:
                        node.types[_typed(where, name)] = int(metric.datatype)
            elif metric.HasField("alias") and int(metric.alias) in node.aliases:
                name = node.aliases[int(metric.alias)]
            else:
                out.unknown_aliases += 1
                out.rebirth = True
                continue
            declared = node.types.get(_typed(where, name))
            value = metric_number(metric, declared)
            if value is None:
                try:
                    value = metric_array(metric, declared)
                except ValueError:  # a torn or oversized array costs only itself, and is counted
                    out.bad_metrics += 1
                    continue
            if value is None or name == BD_SEQ or name.startswith(("Node Control/", "Device Control/", "Properties/")):
                continue
            ms = metric.timestamp if metric.HasField("timestamp") else stamp
            try:
                ts = datetime.fromtimestamp(ms / 1000, UTC) if ms else datetime.now(UTC)
            except (ValueError, OverflowError, OSError):
                out.bad_metrics += 1  # one metric with an impossible time costs only itself
                continue
            out.points.append((name, ts, value))
        return out

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {"nodes": {k: v.as_dict() for k, v in sorted(self.nodes.items())}, "hosts": dict(self.hosts),
                    "seq_gaps": sum(n.seq_gaps for n in self.nodes.values()), "names": self._names,
                    **({"refused_book_full": self.refused} if self.refused else {})}

    def down(self) -> list[dict[str, str]]:
        """Each edge node or device that is known and offline, for the ``connector_down`` rule."""
        out = []
        with self._lock:
            for key, node in sorted(self.nodes.items()):
                if not node.online:
                    out.append({"what": f"Sparkplug edge node {key}", "reason": node.reason})
                    continue
                out += [{"what": f"Sparkplug device {key}/{d}", "reason": "death certificate (DDEATH)"}
                        for d, up in sorted(node.devices.items()) if not up]
        return out


def _device_types(node: NodeState, device: str | None) -> list[str]:
    """The keys of ``node.types`` that one device's birth declared."""
    prefix = f"{device or ''}\x00"
    return [key for key in node.types if key.startswith(prefix)]


def _typed(where: Topic, name: str) -> str:
    """Where a birth's datatype is kept: node metrics and each device's metrics apart."""
    return f"{where.device or ''}\x00{name}"


def _bd_seq(payload: Any) -> int | None:
    for metric in payload.metrics:
        if metric.name == BD_SEQ:
            value = metric_number(metric)
            return None if value is None else int(value)
    return None


def _host_online(data: bytes) -> bool:
    """A host application's STATE: ``{"online": true, ...}`` (3.0) or the older ``ONLINE``/``OFFLINE``."""
    text = data.decode("utf-8", "replace").strip()
    if text.upper() in ("ONLINE", "OFFLINE"):
        return text.upper() == "ONLINE"
    try:
        online = json.loads(text).get("online")
    except (ValueError, AttributeError, RecursionError):
        online = None
    if not isinstance(online, bool):
        raise ValueError(f"STATE payload {text[:60]!r} is neither JSON with a boolean 'online' nor ONLINE/OFFLINE")
    return online


def rebirth_request() -> bytes:
    """The NCMD a host sends to ask an edge node to publish its births again."""
    return encode([(REBIRTH, None, BOOLEAN, True)], seq=None)


# -- the daemon as an edge node of its own -----------------------------------------------------------
Publish = Callable[[str, bytes], None]

VERDICT_METRICS = (("Verdict", STRING), ("Label", STRING), ("Confidence", DOUBLE), ("Score", DOUBLE),
                   ("Model", STRING), ("Source", STRING), ("Error", STRING))
ALERT_METRICS = (("Event", STRING), ("Rule", STRING), ("Severity", STRING), ("Message", STRING), ("Asset", STRING),
                 ("Count", INT64))
ALERTS_DEVICE = "alerts"


class EdgeNode:
    """Verdicts and alerts as a Sparkplug B edge node: ``spBv1.0/<group>/.../<edge node>``.

    Each line becomes a device (born on its first verdict, with the metrics of
    :data:`VERDICT_METRICS`), alerts a device called ``alerts``; values travel by alias. The node's
    death certificate is the connection's MQTT will, carrying the ``bdSeq`` of the birth it
    ends, so a SCADA sees the daemon go offline when it does. ``seq`` counts every message.
    """

    def __init__(self, group: str, edge: str, publish: Publish) -> None:
        self.group, self.edge, self._publish = group, edge, publish
        self.bd_seq = 0
        self._seq = 0
        self._devices: dict[str, tuple[tuple[str, int], ...]] = {}
        self._aliases: dict[tuple[str, str], int] = {}
        self._born = False
        self._lock = threading.Lock()

    def death(self) -> tuple[str, bytes]:
        """The NDEATH topic and payload for this connection's will."""
        return topic(self.group, "NDEATH", self.edge), encode([(BD_SEQ, None, INT64, self.bd_seq)], seq=None)

    def birth(self) -> None:
        """Publish NBIRTH (and a DBIRTH for every device born so far): on connect and on a rebirth request."""
        with self._lock:
            self._seq = 0
            self._send(topic(self.group, "NBIRTH", self.edge),
                       [(BD_SEQ, None, INT64, self.bd_seq), (REBIRTH, None, BOOLEAN, False)])
            self._born = True
            for device, metrics in self._devices.items():
                self._device_birth(device, metrics)

    def connection_lost(self) -> None:
        """The next connection is a new session: its birth and will carry the next ``bdSeq``."""
        with self._lock:
            self._born = False
            self.bd_seq = (self.bd_seq + 1) % 256

    def verdict(self, verdict: Mapping[str, Any]) -> None:
        values = {"Verdict": verdict.get("verdict"), "Label": verdict.get("label"),
                  "Confidence": verdict.get("confidence"), "Score": verdict.get("score"),
                  "Model": f"{verdict.get('model')} {verdict.get('version')}", "Source": verdict.get("source"),
                  "Error": verdict.get("error") or ""}
        device = _device_id(verdict.get("line") or "default")
        self._data(f"line_{device}" if device == ALERTS_DEVICE else device, VERDICT_METRICS, values)

    def alert(self, alert: Mapping[str, Any]) -> None:
        values = {"Event": alert.get("event"), "Rule": alert.get("rule"), "Severity": alert.get("severity"),
                  "Message": alert.get("message"), "Asset": alert.get("asset") or "", "Count": alert.get("count") or 1}
        self._data(ALERTS_DEVICE, ALERT_METRICS, values)

    def _data(self, device: str, metrics: tuple[tuple[str, int], ...], values: Mapping[str, Any]) -> None:
        with self._lock:
            if device not in self._devices:
                self._devices[device] = metrics
                if self._born:
                    self._device_birth(device, metrics, values)
                    return
            if not self._born:
                raise ConnectionError("the Sparkplug B edge node is not born yet (no broker connection)")
            self._send(topic(self.group, "DDATA", self.edge, device),
                       [(None, self._aliases[(device, name)], kind, values.get(name)) for name, kind in metrics])

    def _device_birth(self, device: str, metrics: tuple[tuple[str, int], ...],
                      values: Mapping[str, Any] | None = None) -> None:
        rows = []
        for name, kind in metrics:
            alias = self._aliases.setdefault((device, name), len(self._aliases) + 1)
            rows.append((name, alias, kind, (values or {}).get(name)))
        self._send(topic(self.group, "DBIRTH", self.edge, device), rows)

    def _send(self, where: str, metrics: list[tuple[str | None, int | None, int, Any]]) -> None:
        payload = encode(metrics, seq=self._seq)
        self._seq = (self._seq + 1) % 256
        self._publish(where, payload)


def _device_id(name: str) -> str:
    """A line name as a topic level: MQTT's separators and wildcards become ``_``."""
    return "".join("_" if c in "/+#" else c for c in str(name)) or "default"
