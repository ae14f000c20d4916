"""kazoo: a session moves to another zoe instance when its instance dies.

Run by tests/kazoo_client.rs (kazoo_resumes_its_session_on_another_zoe_instance),
which starts two zoe instances on one etcd and passes both in
ZOE_TEST_CONNECT (first one first), the first one's pid in
ZOE_TEST_FIRST_PID and the second's address in ZOE_TEST_SECOND.
"""

import os
import signal

from kazoo.client import KazooClient, KazooState
from kazoo.protocol.states import EventType

from conftest import WAIT_S, Calls, connect_string, wait_until


def test_session_moves_with_its_ephemerals_and_watches():
    first_pid = int(os.environ["ZOE_TEST_FIRST_PID"])
    states = Calls()
    # In order: the client connects to the first instance.
    zk = KazooClient(hosts=connect_string(), timeout=10.0, randomize_hosts=False)
    zk.add_listener(states)
    zk.start(timeout=WAIT_S)
    other = KazooClient(hosts=os.environ["ZOE_TEST_SECOND"], timeout=10.0)
    other.start(timeout=WAIT_S)
    try:
        session = zk.client_id
        zk.create("/move")
        eph = zk.create("/move/e", b"mine", ephemeral=True)
        one_shot = Calls()
        zk.get("/move/e", watch=one_shot)
        # kazoo's DataWatch recipe re-arms itself after a reconnect.
        seen = Calls()
        zk.DataWatch(eph, lambda data, stat: seen((data, stat.version if stat else None)))
        seen.wait_count(1)

        os.kill(first_pid, signal.SIGKILL)
        wait_until(lambda: KazooState.SUSPENDED in states.items, "SUSPENDED")
        wait_until(
            lambda: states.items and states.items[-1] == KazooState.CONNECTED,
            "CONNECTED again",
        )
        assert KazooState.LOST not in states.items, states.items
        assert zk.client_id == session, "the session was replaced"

        # The ephemeral is still this session's, seen from both sides.
        assert zk.exists(eph).ephemeralOwner == session[0]
        assert other.exists(eph).ephemeralOwner == session[0]

        # kazoo drops one-shot watches on a disconnect (it tells each with a
        # NONE event and does not re-register them); its recipes re-arm.
        wait_until(
            lambda: any(e.type == EventType.NONE for e in one_shot.items),
            "the NONE event kazoo sends watchers on a disconnect",
        )
        other.set(eph, b"changed")
        wait_until(
            lambda: (b"changed", 1) in seen.items,
            "DataWatch to see the change made after the move, got %r" % (seen.items,),
        )
        events = Calls()
        zk.get_children("/move", watch=events)
        other.create("/move/x")
        wait_until(
            lambda: any(e.type == EventType.CHILD and e.path == "/move" for e in events.items),
            "NodeChildrenChanged for /move on the new instance, got %r" % (events.items,),
        )

        # And the moved session writes as before.
        zk.set(eph, b"again")
        assert other.get(eph)[0] == b"again"
    finally:
        other.stop()
        other.close()
        zk.stop()
        zk.close()
    # Closing the session removes its ephemeral.
    check = KazooClient(hosts=os.environ["ZOE_TEST_SECOND"], timeout=10.0)
    check.start(timeout=WAIT_S)
    try:
        assert check.exists("/move/e") is None
        check.delete("/move", recursive=True)
    finally:
        check.stop()
        check.close()
