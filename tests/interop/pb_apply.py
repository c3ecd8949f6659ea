"""make interop, consumer (c): a Protobuf reader in Python.

Reads sluice's Protobuf table topics read_committed, decodes every record
with the classes protoc generates from src/encode/sluice.proto, and turns
each change into SQL that rebuilds the table in another database: one SQL
file per topic (OUTDIR/<topic>.sql), which run.sh applies with psql. It is
written the way a consumer that knows only sluice.proto and docs/output.md
would write it: every Value case turned back into PostgreSQL's text form of
the value, by the documented rules (days, microseconds, sentinels for
infinity, the TOAST marker) and nothing else.

usage: pb_apply.py BOOTSTRAP OUTDIR TOPIC...
"""

import os
import re
import struct
import sys

from confluent_kafka import Consumer, KafkaError, TopicPartition

import sluice_pb2 as pb

INT32_MAX, INT32_MIN = 2**31 - 1, -(2**31)
INT64_MAX, INT64_MIN = 2**63 - 1, -(2**63)
USEC_PER_DAY = 86_400_000_000


def civil_from_days(z):
    """Proleptic Gregorian (year, month, day) of day z after 1970-01-01, any
    year (Python's datetime stops at 1..9999)."""
    z += 719468
    era = z // 146097  # floor division: the era of a negative day too
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + 1 if m <= 2 else y), m, d


def date_text(days):
    if days == INT32_MAX:
        return "infinity"
    if days == INT32_MIN:
        return "-infinity"
    y, m, d = civil_from_days(days)
    # Year 0 is 1 BC in PostgreSQL's notation.
    return f"{y:04d}-{m:02d}-{d:02d}" if y > 0 else f"{1 - y:04d}-{m:02d}-{d:02d} BC"


def time_text(micros):
    s, us = divmod(micros, 1_000_000)
    h, s = divmod(s, 3600)
    mi, s = divmod(s, 60)
    return f"{h:02d}:{mi:02d}:{s:02d}.{us:06d}"


def timestamp_text(micros):
    if micros == INT64_MAX:
        return "infinity"
    if micros == INT64_MIN:
        return "-infinity"
    days, rest = divmod(micros, USEC_PER_DAY)
    y, m, d = civil_from_days(days)
    if y > 0:
        return f"{y:04d}-{m:02d}-{d:02d} {time_text(rest)}"
    return f"{1 - y:04d}-{m:02d}-{d:02d} {time_text(rest)} BC"


def float_text(x, single):
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "-0" if struct.pack(">d", x)[0] & 0x80 else "0"
    if not single:
        return repr(x)
    # The shortest digits that give the same 32-bit float back.
    packed = struct.pack(">f", x)
    for p in range(1, 10):
        s = f"{x:.{p}g}"
        try:
            if struct.pack(">f", float(s)) == packed:
                return s
        except OverflowError:  # rounded past the largest float
            continue
    return repr(x)


def quote_element(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


# The type OIDs whose text needs more than the Value: timestamptz (and its
# array), whose ISO strings have astronomical years that PostgreSQL does not
# read back ("-0043" is 44 BC, "+10000" past 9999), and box[], whose element
# delimiter is ";". Built-in OIDs are the same in every database.
TIMESTAMPTZ, TIMESTAMPTZ_ARRAY, BOX_ARRAY = 1184, 1185, 1020
ISO_YEAR = re.compile(r"^([+-]?)([0-9]{4,})(-.*)$")


def timestamptz_text(s):
    m = ISO_YEAR.match(s)
    if not m or (m.group(1) == "" and len(m.group(2)) == 4):
        return s
    year = int(m.group(1) + m.group(2))
    return f"{year}{m.group(3)}" if year > 0 else f"{1 - year:04d}{m.group(3)} BC"


def value_text(v, type_oid=0):
    """PostgreSQL's text form of a Value of a column of type TYPE_OID; None for
    SQL NULL. The TOAST marker never gets here (the caller leaves such
    columns out)."""
    kind = v.WhichOneof("kind")
    if kind is None or kind == "null_value":
        return None
    if kind == "bool_value":
        return "t" if v.bool_value else "f"
    if kind == "int_value":
        return str(v.int_value)
    if kind == "float_value":
        return float_text(v.float_value, True)
    if kind == "double_value":
        return float_text(v.double_value, False)
    if kind == "decimal_value":
        return v.decimal_value
    if kind == "text_value":
        return timestamptz_text(v.text_value) if type_oid == TIMESTAMPTZ else v.text_value
    if kind == "bytes_value":
        return "\\x" + v.bytes_value.hex()
    if kind == "date_days":
        return date_text(v.date_days)
    if kind == "time_micros":
        return time_text(v.time_micros)
    if kind == "timestamp_micros":
        return timestamp_text(v.timestamp_micros)
    if kind == "array_value":
        parts = []
        elem_oid = TIMESTAMPTZ if type_oid == TIMESTAMPTZ_ARRAY else 0
        for e in v.array_value.elements:
            if e.WhichOneof("kind") == "array_value":
                parts.append(value_text(e, type_oid))
            else:
                t = value_text(e, elem_oid)
                parts.append("NULL" if t is None else quote_element(t))
        return "{" + (";" if type_oid == BOX_ARRAY else ",").join(parts) + "}"
    if kind == "composite_value":
        parts = []
        for f in v.composite_value.fields:
            t = value_text(f.value, f.type_oid)
            parts.append("" if t is None else quote_element(t))
        return "(" + ",".join(parts) + ")"
    raise ValueError(f"value case {kind} has no text form")


def literal(t):
    return "NULL" if t is None else "'" + t.replace("'", "''") + "'"


def ident(s):
    return '"' + s.replace('"', '""') + '"'


class Table:
    def __init__(self, schema, table):
        self.name = f"{ident(schema)}.{ident(table)}"
        self.schema, self.table = schema, table
        self.known = {}  # column -> the type OID this consumer last saw it with


def add_missing_columns(out, t, columns):
    """A column the copy may not have yet (ALTER TABLE ADD COLUMN at the
    source): added with the type its OID names when it is a built-in type
    (OIDs below 16384 are the same in every database), else as text, and
    with the default the event carries (Column.default_value), so that the
    copy's existing rows get it as PostgreSQL gave it to the source's (ADD
    COLUMN … DEFAULT fills them without a change event). A column whose
    built-in type OID changed (ALTER COLUMN TYPE at the source) takes the
    new type, its values converted through their text form."""
    for c in columns:
        seen = t.known.get(c.name)
        if c.type_oid or seen is None:
            t.known[c.name] = c.type_oid
        if seen is not None:
            if seen != c.type_oid and seen and c.type_oid and c.type_oid < 16384:
                out.write(
                    "DO $$ BEGIN EXECUTE format('ALTER TABLE %s ALTER COLUMN %I TYPE %s USING %I::text::%s', "
                    f"{literal(t.name)}, {literal(c.name)}, format_type({c.type_oid}, NULL), "
                    f"{literal(c.name)}, format_type({c.type_oid}, NULL)); END $$;\n")
            continue
        default = value_text(c.default_value, c.type_oid) if c.HasField("default_value") else None
        clause = "" if default is None else f" || ' DEFAULT ' || quote_literal({literal(default)})"
        out.write(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = "
            f"{literal(t.name)}::regclass AND attname = {literal(c.name)} AND NOT attisdropped) THEN "
            f"EXECUTE format('ALTER TABLE %s ADD COLUMN %I %s', {literal(t.name)}, {literal(c.name)}, "
            f"CASE WHEN {c.type_oid} < 16384 THEN format_type({c.type_oid}, NULL) ELSE 'text' END){clause}; "
            "END IF; END $$;\n")


def key_condition(key_cols):
    return " AND ".join(f"{ident(c.name)} = {literal(value_text(c.value, c.type_oid))}" for c in key_cols)


def row_condition(cols):
    return " AND ".join(
        f"{ident(c.name)} IS NOT DISTINCT FROM {literal(value_text(c.value, c.type_oid))}" for c in cols
        if c.value.WhichOneof("kind") != "unavailable")


def apply_event(out, tables, key, ev):
    t = tables.setdefault((ev.source.schema, ev.source.table), Table(ev.source.schema, ev.source.table))
    key_cols = list(key.columns) if key is not None else None
    if ev.op in (pb.OP_CREATE, pb.OP_READ):
        cols = [c for c in ev.after.columns if c.value.WhichOneof("kind") != "unavailable"]
        add_missing_columns(out, t, cols)
        out.write(f"INSERT INTO {t.name} ({', '.join(ident(c.name) for c in cols)}) VALUES "
                  f"({', '.join(literal(value_text(c.value, c.type_oid)) for c in cols)});\n")
    elif ev.op == pb.OP_UPDATE:
        # An unchanged TOASTed value PostgreSQL did not send: keep the copy's.
        cols = [c for c in ev.after.columns if c.value.WhichOneof("kind") != "unavailable"]
        add_missing_columns(out, t, cols)
        sets = ", ".join(f"{ident(c.name)} = {literal(value_text(c.value, c.type_oid))}" for c in cols)
        if key_cols:
            where = key_condition(key_cols)
            out.write(f"UPDATE {t.name} SET {sets} WHERE {where};\n")
        else:
            # No key (REPLICA IDENTITY FULL without a primary key): the old row names one copy.
            out.write(f"UPDATE {t.name} SET {sets} WHERE ctid = (SELECT ctid FROM {t.name} "
                      f"WHERE {row_condition(ev.before.columns)} LIMIT 1);\n")
    elif ev.op == pb.OP_DELETE:
        if key_cols:
            out.write(f"DELETE FROM {t.name} WHERE {key_condition(key_cols)};\n")
        else:
            out.write(f"DELETE FROM {t.name} WHERE ctid = (SELECT ctid FROM {t.name} "
                      f"WHERE {row_condition(ev.before.columns)} LIMIT 1);\n")
    elif ev.op == pb.OP_TRUNCATE:
        out.write(f"TRUNCATE {t.name};\n")
    else:
        raise ValueError(f"unexpected op {pb.Op.Name(ev.op)} on a table topic")


def main():
    bootstrap, outdir, topics = sys.argv[1], sys.argv[2], sys.argv[3:]
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"interop-pb-{os.getpid()}",
        "isolation.level": "read_committed",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
    })
    # Every partition of every topic, from the start; done when each reached its end.
    parts = []
    for topic in topics:
        md = consumer.list_topics(topic, timeout=30).topics[topic]
        parts += [TopicPartition(topic, p, 0) for p in md.partitions]
    consumer.assign(parts)
    pending = {(p.topic, p.partition) for p in parts}
    files = {topic: open(os.path.join(outdir, topic + ".sql"), "w") for topic in topics}
    for f in files.values():
        f.write("\\set ON_ERROR_STOP on\nSET client_min_messages = warning;\n")
    tables = {}
    failed = set()
    counts = dict.fromkeys(topics, 0)
    while pending:
        msg = consumer.poll(30)
        if msg is None:
            sys.exit(f"pb_apply: no record and no end of partition for 30 s; waiting for {sorted(pending)}")
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                pending.discard((msg.topic(), msg.partition()))
                continue
            sys.exit(f"pb_apply: {msg.error()}")
        if msg.value() is None:
            continue  # tombstone
        key = None
        if msg.key() is not None:
            key = pb.RowKey()
            key.ParseFromString(msg.key())
        ev = pb.ChangeEvent()
        ev.ParseFromString(msg.value())
        out = files[msg.topic()]
        if msg.topic() in failed:
            continue
        out.write(f"-- offset {msg.offset()}\n")
        try:
            apply_event(out, tables, key, ev)
        except Exception as e:  # this topic stops here, as a sink task would
            failed.add(msg.topic())
            out.write(f"DO $$ BEGIN RAISE EXCEPTION '%', {literal(f'the reader failed at offset {msg.offset()}: {e!r}')}; END $$;\n")
        counts[msg.topic()] += 1
    consumer.close()
    for f in files.values():
        f.close()
    for topic in topics:
        print(f"{topic}\t{counts[topic]}")


if __name__ == "__main__":
    main()
