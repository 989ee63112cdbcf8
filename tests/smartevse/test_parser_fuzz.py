"""Fuzzing the line parser: >= 100,000 random and mutated lines (seeded) plus hypothesis.
Nothing may escape, every message must fit the schema, and the parser must resynchronise."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from backends.smartevse.protocol import CH32_TO_ESP32, ESP32_TO_CH32, Kind, LineParser, Message, encode

GOOD_LINES = [
    b"@State:2.", b"@State:10.", b"@Pilot:6", b"@Pilot:255", b"@Temp:-12", b"@ErrorFlags:20",
    b"@Irms:011,312,123,124", b"@Irms:012,-5,0,7", b"@PowerMeasured:012,6900", b"@Energy:012,123456",
    b"@RFID:0123456789ABCDEF", b"@!Panic", b"@Config:OK", b"@version:1767225600", b"@MSG: Power restored",
    b"@Mode:1.", b"@ExtSwitch:0.", b"@Access:1", b"@Nr_Of_Phases_Charging:3", b"@write_settings",
]
ALPHABET = b"@:.,-0123456789ABCDEFabcdefxyzS!?\r\n \x00\xff"


def _valid(msg: Message, schema: dict[str, Kind]) -> bool:
    if msg.key == "MSG":
        return isinstance(msg.value, str) and "\n" not in msg.value
    kind = schema[msg.key]
    v = msg.value
    return {
        Kind.NONE: v is None,
        Kind.INT: isinstance(v, int),
        Kind.INTS2: isinstance(v, tuple) and len(v) == 2,
        Kind.INTS4: isinstance(v, tuple) and len(v) == 4,
        Kind.HEX: isinstance(v, str) and len(v) % 2 == 0,
        Kind.STR: isinstance(v, str),
    }[kind]


def _mutate(rng: random.Random, line: bytes) -> bytes:
    data = bytearray(line)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:  # flip a bit
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
        elif op == 1:  # insert a byte
            data.insert(pos, rng.choice(ALPHABET))
        elif op == 2 and data:  # delete
            del data[rng.randrange(len(data))]
        elif op == 3:  # truncate
            del data[pos:]
        elif op == 4:  # duplicate a slice
            data[pos:pos] = data[: rng.randrange(len(data) + 1)]
        else:  # splice another line in
            data[pos:pos] = rng.choice(GOOD_LINES)
    return bytes(data)


def _random_line(rng: random.Random) -> bytes:
    n = rng.choice((0, 1, 5, 20, 80, 300, 600))
    if rng.random() < 0.5:
        return bytes(rng.choice(ALPHABET) for _ in range(rng.randint(0, n)))
    return rng.randbytes(rng.randint(0, n))


def test_100k_seeded_random_and_mutated_lines() -> None:
    rng = random.Random(20261121)
    for schema in (CH32_TO_ESP32, ESP32_TO_CH32):
        parser = LineParser(schema)
        lines = 0
        stream = bytearray()
        out: list[Message] = []
        while lines < 60_000:
            r = rng.random()
            if r < 0.45:
                line = _mutate(rng, rng.choice(GOOD_LINES))
            elif r < 0.9:
                line = _random_line(rng)
            else:
                line = rng.choice(GOOD_LINES)
            stream += line + b"\n"
            lines += 1
            if len(stream) > 4096 or lines % 997 == 0:
                while stream:  # random chunking, as reads from a UART arrive
                    cut = rng.randint(1, 300)
                    out.extend(parser.feed(bytes(stream[:cut])))
                    del stream[:cut]
        out.extend(parser.feed(bytes(stream) + b"\n@Temp:21\n@State:2.\n"))
        assert all(_valid(m, schema) for m in out)
        assert parser.stats.lines > 50_000
        assert parser.stats.dropped() > 10_000
        if schema is CH32_TO_ESP32:
            assert out[-2:] == [Message("Temp", 21), Message("State", 2)]


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=700), st.integers(min_value=1, max_value=64))
def test_any_bytes_then_resync(data: bytes, chunk: int) -> None:
    parser = LineParser(CH32_TO_ESP32)
    out: list[Message] = []
    for i in range(0, len(data), chunk):
        out.extend(parser.feed(data[i:i + chunk]))
    assert all(_valid(m, CH32_TO_ESP32) for m in out)
    tail = parser.feed(b"\n@Temp:21\n")
    assert tail == [Message("Temp", 21)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(sorted(CH32_TO_ESP32)), min_size=1, max_size=20),
       st.integers(min_value=-(10**6), max_value=10**6), st.binary(max_size=40))
def test_good_lines_survive_interleaved_noise(keys: list[str], number: int, noise: bytes) -> None:
    samples = {Kind.NONE: None, Kind.INT: number, Kind.INTS2: (12, number), Kind.INTS4: (10, number, 0, -number),
               Kind.HEX: "0A1B", Kind.STR: "OK"}
    expected = [Message(k, samples[CH32_TO_ESP32[k]] if CH32_TO_ESP32[k] is not Kind.HEX else "0A1B")
                for k in keys]
    parser = LineParser(CH32_TO_ESP32)
    got: list[Message] = []
    for m in expected:
        got.extend(parser.feed(noise.replace(b"\n", b"") + b"\n"))  # a noise line, dropped or not
        got.extend(parser.feed(encode(CH32_TO_ESP32, m.key, m.value)))
    remaining = iter(got)  # every good line comes out, in order (noise lines may add messages)
    assert all(any(m == g for g in remaining) for m in expected)
