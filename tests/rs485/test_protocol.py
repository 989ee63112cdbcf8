"""The bus protocol frame by frame against reference §4.3, pure and over a real pty (pymodbus master)."""

from __future__ import annotations

import asyncio
import os
import tty

import pytest

from backends.smartevse_rs485 import create_backend
from backends.smartevse_rs485.emulator.node import NodeFirmware
from backends.smartevse_rs485.master import NodeConfig, NodeTrack, node_writes, on_answer, on_silence
from backends.smartevse_rs485.protocol import (
    LESS_6A,
    STATE_COMM_B,
    STATE_COMM_B_OK,
    STATE_COMM_C,
    FrameError,
    NodeStatus,
    Request,
    SystemConfig,
    balanced_broadcast,
    crc16,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
    frame_time_s,
    state_write,
    status_read,
    system_config_broadcast,
)
from chargepoint.clock import RealClock


def test_crc_of_a_known_frame():
    assert crc16(bytes.fromhex("01030000000A")).to_bytes(2, "little") == bytes.fromhex("C5CD")


def test_master_grants_c_as_in_the_reference():
    # "03 10 00 00 00 02 04 00 07 00 00 <crc>": write state=7 COMM_C_OK, error=0 to the node at address 3
    frame = encode_request(state_write(3, 7, 0))
    assert frame[:-2] == bytes.fromhex("0310000000020400070000")
    assert decode_request(frame) == Request(3, 0x10, 0, values=(7, 0))


def test_broadcast_of_balanced_currents_and_mains():
    # "09 10 00 20 ... | 00 A0 00 00 00 3C": node 0 16.0 A, node 2 6.0 A; 11 registers with the mains Irms
    frame = encode_request(balanced_broadcast([160, 0, 60, 0, 0, 0, 0, 0], [123, -45, 0]))
    assert frame[:7] == bytes.fromhex("091000200 00B16".replace(" ", ""))
    assert frame[7:13] == bytes.fromhex("00A00000003C")
    assert frame[23:29] == bytes.fromhex("007BFFD30000")
    assert not decode_request(frame).expects_reply


def test_status_read_and_its_answer():
    req = status_read(3)
    assert encode_request(req)[:-2] == bytes.fromhex("030400000008")
    answer = encode_response(req, [1, 0, 60, 1, 0, 1, 0, 16])
    assert answer[:11] == bytes.fromhex("0304100001000000 3C0001".replace(" ", ""))
    status = NodeStatus.from_registers(decode_response(req, answer))
    assert (status.state, status.current_da, status.mode, status.max_current_a) == (1, 60, 1, 16)
    with pytest.raises(FrameError):
        decode_response(req, answer[:-1] + bytes((answer[-1] ^ 1,)))


def test_system_config_is_22_registers_to_the_broadcast_address():
    req = system_config_broadcast(SystemConfig(mode=1, max_mains_a=25))
    assert (req.unit, req.function, req.address, len(req.values)) == (9, 0x10, 0x0200, 22)
    assert req.values[0] == 1 and req.values[4] == 25


def test_wire_time_at_9600():
    assert frame_time_s(8) == pytest.approx((8 + 3.5) * 10 / 9600)


def test_handshake_decisions():
    t = NodeTrack(NodeConfig(3, 2))
    on_answer(t, NodeStatus(STATE_COMM_B, 0, 0, 0, 0, 1, 0, 16), 0.0)
    assert node_writes(t, min_current_a=6, mode=0) == []  # not permitted: waits
    t.available = False
    assert node_writes(t, min_current_a=6, mode=0) == [state_write(3, STATE_COMM_B, LESS_6A)]
    t.available, t.permitted, t.offered_da = True, True, 60
    on_answer(t, NodeStatus(STATE_COMM_B, LESS_6A, 0, 0, 0, 1, 0, 16), 2.0)
    assert node_writes(t, min_current_a=6, mode=0) == [state_write(3, STATE_COMM_B_OK, 0)]
    # COMM_C is granted only after an energy verdict newer than the request
    on_answer(t, NodeStatus(STATE_COMM_C, 0, 60, 0, 0, 1, 0, 16), 4.0)
    t.available_at = 3.0
    assert node_writes(t, min_current_a=6, mode=0) == []
    t.available_at = 5.0
    assert node_writes(t, min_current_a=6, mode=0) == [state_write(3, 7, 0)]
    # Online counter: 5 silent polls -> offline
    assert [on_silence(t) for _ in range(5)] == [False, False, False, False, True]


def test_node_emulator_handshake():
    fw = NodeFirmware(3)
    fw.ev.plugged = True
    fw.tick(1.0)
    assert fw.state == STATE_COMM_B
    fw.write(0, [STATE_COMM_B_OK, 0], 1.5)
    fw.receive_balanced([0, 0, 60, 0, 0, 0, 0, 0, 0, 0, 0], 1.6)
    for t in (1.8, 2.0, 2.3, 2.6):
        fw.tick(t)
    assert fw.state == STATE_COMM_C
    fw.tick(20.0)  # no broadcast for > 11 s: CT_NOCOMM, the node's own safe state
    assert fw.error & 2 and fw.state != 2


def _raw_pty() -> tuple[int, str]:
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    os.set_blocking(master, False)
    return master, os.ttyname(slave)


def test_one_cycle_on_the_wire_over_a_pty():
    """The backend's pymodbus master on a real pty, the other end read raw: with no node answering, the
    bytes of one cycle are exactly the §4.3 requests: status reads of 2, 3, 4, the broadcast of the
    balanced currents, the system configuration broadcast."""
    master_fd, path = _raw_pty()

    async def main() -> bytes:
        clock = RealClock()
        board = create_backend(clock, {"port": path, "nodes": "2,3,4", "timeout_s": 0.05, "cycle_s": 30.0,
                                       "start_timeout_s": 5.0})
        await board.start()
        await asyncio.sleep(0.3)
        data = b""
        while True:
            try:
                chunk = os.read(master_fd, 4096)
            except BlockingIOError:
                break
            if not chunk:
                break
            data += chunk
        await board.close()
        return data

    data = asyncio.run(main())
    os.close(master_fd)
    expected = b"".join(encode_request(r) for r in (
        status_read(2), status_read(3), status_read(4), balanced_broadcast([0] * 8, [0, 0, 0]),
        system_config_broadcast(SystemConfig())))
    assert data.startswith(expected), (data.hex(), expected.hex())
