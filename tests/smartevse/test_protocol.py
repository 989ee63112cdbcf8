"""Parser and encoder of the v4 serial line protocol (reference §3.6)."""

from __future__ import annotations

import pytest

from backends.smartevse.protocol import (
    CH32_TO_ESP32,
    ESP32_TO_CH32,
    MAX_LINE,
    EncodeError,
    Kind,
    LineParser,
    Message,
    current_for_duty,
    duty_for_current,
    encode_command,
    encode_log,
    encode_report,
)


def parse(data: bytes) -> tuple[list[Message], LineParser]:
    p = LineParser(CH32_TO_ESP32)
    return p.feed(data), p


def test_reference_examples() -> None:
    msgs, p = parse(b"@State:2.\n@Irms:011,312,123,124\n@Mode:1.\n@ExtSwitch:1.\n@RFID:0123456789abcdef\n"
                    b"@!Panic\n@Config:OK\n@version:1767225600\n@MSG: Power restored\n@Irms:012,-5,0,7\n")
    assert msgs == [
        Message("State", 2),
        Message("Irms", (11, 312, 123, 124)),
        Message("Mode", 1),
        Message("ExtSwitch", 1),
        Message("RFID", "0123456789ABCDEF"),
        Message("!Panic"),
        Message("Config", "OK"),
        Message("version", 1767225600),
        Message("MSG", "Power restored"),
        Message("Irms", (12, -5, 0, 7)),
    ]
    assert p.stats.dropped() == 0 and p.stats.logs == 1


def test_exact_key_match_only() -> None:
    msgs, p = parse(b"@StateX:2\n@Stat:2\n@state:2\n@xState:2\n@State:2\n")
    assert msgs == [Message("State", 2)]
    assert p.stats.unknown_key == 4


def test_byte_by_byte_equals_whole() -> None:
    data = b"@State:9.\r\n@Temp:-3\n@PowerMeasured:012,6900\n"
    whole, _ = parse(data)
    p = LineParser(CH32_TO_ESP32)
    pieces = [m for i in range(len(data)) for m in p.feed(data[i:i + 1])]
    assert pieces == whole == [Message("State", 9), Message("Temp", -3), Message("PowerMeasured", (12, 6900))]


def test_overlong_lines_are_capped_and_resync() -> None:
    p = LineParser(CH32_TO_ESP32)
    long = b"@MSG:" + b"a" * (MAX_LINE + 50)
    out = p.feed(long[:100]) + p.feed(long[100:]) + p.feed(b"still the same line\n@Temp:30\n")
    assert out == [Message("Temp", 30)]
    assert p.stats.overlong == 1


def test_partial_and_garbage_lines() -> None:
    msgs, p = parse(b"@Irms:012,16@Temp:25\nnoise\n\xff\xfe\n@\n@State:x\n@State\n@!Panic:1\n@Irms:1,2,3\n\n")
    assert msgs == [Message("Temp", 25)]
    s = p.stats
    assert (s.partial, s.garbage, s.non_ascii, s.malformed) == (1, 2, 1, 4)


def test_reset_drops_half_line() -> None:
    p = LineParser(CH32_TO_ESP32)
    assert p.feed(b"@State:") == []
    p.reset()
    assert p.feed(b"2.\n@State:1.\n") == [Message("State", 1)]
    assert p.stats.partial == 1 and p.stats.garbage == 1


SAMPLES = {Kind.NONE: None, Kind.INT: 42, Kind.INTS2: (12, 6900), Kind.INTS4: (10, -12, 0, 160),
           Kind.HEX: "01A2B3C4D5E6F708", Kind.STR: "OK"}


@pytest.mark.parametrize("key", sorted(ESP32_TO_CH32))
def test_every_command_round_trips(key: str) -> None:
    value = SAMPLES[ESP32_TO_CH32[key]]
    line = encode_command(key, value)
    assert line.startswith(b"@") and line.endswith(b"\n") and line.count(b"\n") == 1
    assert LineParser(ESP32_TO_CH32).feed(line) == [Message(key, value)]


@pytest.mark.parametrize("key", sorted(CH32_TO_ESP32))
def test_every_report_round_trips(key: str) -> None:
    value = SAMPLES[CH32_TO_ESP32[key]]
    line = encode_report(key, value, dot=CH32_TO_ESP32[key] is Kind.INT)
    assert LineParser(CH32_TO_ESP32).feed(line) == [Message(key, value)]


def test_wire_format_of_key_commands() -> None:
    assert encode_command("SetCurrent", 160) == b"@SetCurrent:160\n"
    assert encode_command("setStatePowerUnavailable") == b"@setStatePowerUnavailable\n"
    assert encode_command("version?") == b"@version?\n"
    assert encode_command("Irms", (10, 1, 2, 3)) == b"@Irms:010,1,2,3\n"
    assert encode_report("State", 2, dot=True) == b"@State:2.\n"
    assert encode_log("hi\nthere") == b"@MSG:hi?there\n"


@pytest.mark.parametrize(("key", "value", "needle"), [
    ("Bogus", 1, "unknown key @Bogus"),
    ("SetCurrent", "160", "@SetCurrent needs an integer"),
    ("SetCurrent", True, "@SetCurrent needs an integer"),
    ("setStatePowerUnavailable", 1, "takes no value"),
    ("Irms", (1, 2), "needs 4 integers"),
    ("Irms", (1000, 1, 2, 3), "meter address 1000"),
    ("EVCCID", "a\nb", "single-line ASCII"),
    ("State", None, "@State needs an integer"),
])
def test_encoder_names_the_problem(key: str, value: object, needle: str) -> None:
    with pytest.raises(EncodeError, match=needle.replace("?", r"\?")):
        encode_command(key, value)  # type: ignore[arg-type]


@pytest.mark.parametrize(("da", "duty"), [(60, 100), (100, 166), (160, 266), (320, 533), (510, 850),
                                          (600, 880), (800, 960), (50, 100), (810, 100)])
def test_duty_table(da: int, duty: int) -> None:
    assert duty_for_current(da) == duty


def test_current_for_duty_inverts() -> None:
    for da in range(60, 801):
        duty = duty_for_current(da)
        back = current_for_duty(duty)
        if da > 510 and duty <= 850:
            # 51.1..52.6 A give duties 844..850, which read back through the low formula (as
            # the firmware's GetCurrent does): 50.6..51.0 A
            assert 50.6 <= back <= 51.0
        else:
            assert abs(back * 10 - da) <= 2.6
    assert current_for_duty(1000) == 0.0 and current_for_duty(50) == 0.0
