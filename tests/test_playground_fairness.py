"""One page cannot starve the others: a session trains at most its share of ``frame_budget``
per frame, and the server's pool serves the session that has used the least time first."""

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from neuralab.playground.session import Session

HEAVY = {"problem": "multiclass", "dataset": "gaussians", "classes": 8, "points": 2000,
         "hidden": [8] * 6, "stepsPerFrame": 100, "batchSize": 1,
         "race": [{"optimizer": "momentum", "lr": 0.03}, {"optimizer": "adam", "lr": 0.01},
                  {"optimizer": "rmsprop", "lr": 0.01}]}


def _training_seconds(session, **kwargs):
    """Seconds ``advance`` spends in training steps (the measuring after them aside)."""
    measure, spent = session._measure, []
    session._measure = lambda run: spent.append(time.perf_counter())
    start = time.perf_counter()
    session.advance(**kwargs)
    session._measure = measure
    return spent[-1] - start


def test_a_heavy_frame_trains_within_its_budget_and_every_run_moves():
    s = Session(HEAVY)
    s.advance(1)                                # the first step's one-time costs aside
    s.frame()
    steps0 = [r.step for r in s.runs]
    seconds = _training_seconds(s, budget=0.02)
    done = [r.step - k for r, k in zip(s.runs, steps0, strict=True)]
    assert 1 <= done[0] < 100 and done == [done[0]] * 4, done     # a race at equal steps
    # the main run's share of 5 ms, then 3 runs of as many steps, plus a busy machine
    assert seconds < 0.1, seconds
    assert s.runs[0].steps_done == done[0]                  # the frame reports what was done
    unbounded = Session(HEAVY)
    unbounded.advance()
    assert [r.step for r in unbounded.runs] == [100] * 4    # no budget: every step, as before


def test_a_light_frame_is_not_cut_by_the_budget():
    s = Session({"dataset": "circle", "hidden": [4], "stepsPerFrame": 5})
    s.advance(budget=0.05)
    assert s.runs[0].step == 5


def test_the_pool_serves_the_session_that_used_the_least_time_first():
    from neuralab.playground.guards import FairShare

    class Conn:
        def __init__(self, vtime):
            self.vtime = vtime

    order = []

    async def scenario():
        fair, pool = FairShare(1), ThreadPoolExecutor(1)
        heavy, light = Conn(5.0), Conn(0.0)
        blocker = asyncio.create_task(fair.run(Conn(0.0), pool, time.sleep, 0.2))
        await asyncio.sleep(0.05)                           # the slot is taken: both wait
        jobs = [asyncio.create_task(fair.run(c, pool, order.append, name))
                for c, name in ((heavy, "heavy"), (heavy, "heavy"), (light, "light"))]
        await asyncio.gather(blocker, *jobs)
        pool.shutdown()
        return light.vtime, fair.free

    light_time, free = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert order == ["light", "heavy", "heavy"]
    assert free == 1 and 0.0 < light_time < 1.0             # the slot came back; time counted


def test_a_waiting_job_cancelled_hands_its_slot_on():
    from neuralab.playground.guards import FairShare

    class Conn:
        vtime = 0.0

    async def scenario():
        fair, pool = FairShare(1), ThreadPoolExecutor(1)
        first = asyncio.create_task(fair.run(Conn(), pool, time.sleep, 0.1))
        await asyncio.sleep(0.02)
        gone = asyncio.create_task(fair.run(Conn(), pool, time.sleep, 0))
        await asyncio.sleep(0.02)
        gone.cancel()                                        # its page left while waiting
        await first
        assert await fair.run(Conn(), pool, lambda: "ran") == "ran"
        pool.shutdown()
        return fair.free

    assert asyncio.run(asyncio.wait_for(scenario(), 10)) == 1


def test_the_server_shares_the_frame_budget_between_training_sessions():
    pytest.importorskip("starlette")
    from starlette.testclient import TestClient

    from neuralab.playground import frames
    from neuralab.playground.server import create_app

    with TestClient(create_app(limits={"frame_budget": 0.004}),
                    base_url="http://127.0.0.1") as client, \
            client.websocket_connect("ws://127.0.0.1/ws") as ws:
        pg = client.app.state.playground
        ws.send_text(json.dumps({"type": "set", "state": HEAVY}))
        ws.send_text(json.dumps({"type": "play"}))
        done, deadline = [], time.monotonic() + 60
        while len(done) < 5 and time.monotonic() < deadline:
            message = ws.receive()
            if message.get("bytes") is None:
                continue
            kind, seq, sections = frames.unpack(message["bytes"])
            if kind == frames.FRAME:
                ws.send_text(json.dumps({"type": "ack", "seq": seq}))
                scalars = dict(zip(frames.SCALAR_NAMES, sections[frames.SCALARS],
                                   strict=True))
                if scalars["steps_per_frame_done"]:
                    done.append(scalars["steps_per_frame_done"])
        assert len(done) == 5 and max(done) < 100, done      # 1 ms a run: not 100 steps
        assert pg.frame_budget() == pytest.approx(0.004)      # one session training: all of it
        ws.send_text(json.dumps({"type": "pause"}))
