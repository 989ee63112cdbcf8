"""A tiny charge-point process for the power-loss test: sim board + controller + station + the real
OcppClient in real time, driving charging sessions in a loop until killed.

    python -m tests.ocpp.powerloss_runner <csms_url> <data_dir> [cycles]

Each cycle: plug, card, charge ~1.5 s (MeterValues every second), card again, unplug.  With
``cycles`` given it stops after that many cycles once the transaction queue is empty and exits 0.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from backends.sim import create_backend
from chargepoint.clock import RealClock
from chargepoint.controller import Controller
from chargepoint.controller.types import ControllerSettings
from chargepoint.ocpp.client import OcppClient
from chargepoint.ocpp.options import OcppOptions
from chargepoint.station import Station


async def main(url: str, data_dir: Path, cycles: int | None) -> int:
    clock = RealClock()
    board = create_backend(clock, {"connectors": 1, "ev_request_delay_s": 0.1, "ev_stop_delay_s": 0.1,
                                   "meter_interval_s": 0.2, "ev_reaction_s": 0.1})
    station = Station(clock, board, Controller(ControllerSettings(connectors=1), board.capabilities))
    await station.start()
    options = OcppOptions(csms_url=url, cp_id="PL-1", serial="PL", firmware="1", reconnect_min_s=0.2,
                          reconnect_max_s=1.0, boot_retry_s=1.0,
                          config={"MeterValueSampleInterval": "1", "TransactionMessageRetryInterval": "1",
                                  "MessageTimeout": "3", "HeartbeatInterval": "3600",
                                  "StopTransactionOnEVSideDisconnect": "true", "AllowOfflineTxForUnknownId": "true"})
    client = OcppClient(clock, station, options, data_dir)
    task = asyncio.create_task(client.run())
    await client.ready.wait()
    done = 0
    while cycles is None or done < cycles:
        await clock.sleep(0.3)
        board.plug(1)
        board.present_rfid("PL-TAG", 1)
        await clock.sleep(1.5)
        board.present_rfid("PL-TAG", 1)
        await clock.sleep(0.3)
        board.unplug(1)
        done += 1
    assert client.ctx is not None
    while client.ctx.outbox.pending_transaction_messages() or client.ctx.transactions.all_active():
        await clock.sleep(0.1)
    await clock.sleep(0.5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await station.stop()
    print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    n = int(sys.argv[3]) if len(sys.argv) > 3 else None
    sys.exit(RealClock().run(main(sys.argv[1], Path(sys.argv[2]), n)))
