"""The embedded keeper driven by kazoo, a ZooKeeper client no one here wrote."""

import threading

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError, NotEmptyError
from kazoo.protocol.states import EventType

WAIT_S = 30


@pytest.fixture
def zk(broker):
    clients = []

    def connect():
        c = KazooClient(hosts=broker.keeper, timeout=WAIT_S)
        c.start(timeout=WAIT_S)
        clients.append(c)
        return c

    yield connect
    for c in clients:
        c.stop()
        c.close()


def test_create_get_set_delete_with_versions(zk):
    c = zk()
    # Four-letter words share the client port, as in ZooKeeper.
    assert c.command(b"ruok") == "imok"
    assert "zk_znode_count" in c.command(b"mntr")
    assert c.create("/app", b"v0") == "/app"
    data, stat = c.get("/app")
    assert data == b"v0" and stat.version == 0 and stat.numChildren == 0
    stat = c.set("/app", b"v1", version=0)
    assert stat.version == 1
    with pytest.raises(BadVersionError):
        c.set("/app", b"stale", version=0)
    assert c.get("/app")[0] == b"v1"
    with pytest.raises(NodeExistsError):
        c.create("/app", b"again")
    c.ensure_path("/app/a/b")
    assert c.get_children("/app") == ["a"]
    with pytest.raises(NotEmptyError):
        c.delete("/app/a")
    c.delete("/app", recursive=True)
    assert c.exists("/app") is None
    with pytest.raises(NoNodeError):
        c.get("/app")


def test_sequential_nodes_count_up_per_parent(zk):
    c = zk()
    c.ensure_path("/queue")
    names = [c.create("/queue/item-", b"x", sequence=True) for _ in range(3)]
    assert names == ["/queue/item-0000000000", "/queue/item-0000000001", "/queue/item-0000000002"]
    assert sorted(c.get_children("/queue")) == [n.rsplit("/", 1)[1] for n in names]


def test_ephemeral_node_goes_with_its_session_and_watchers_hear_it(zk):
    watcher, owner = zk(), zk()
    owner.ensure_path("/brokers-demo")
    owner.create("/brokers-demo/1", b'{"host":"h"}', ephemeral=True)
    assert watcher.get("/brokers-demo/1")[1].ephemeralOwner == owner.client_id[0]

    deleted = threading.Event()
    children_seen = []
    children_changed = threading.Event()

    def on_data(event):
        if event.type == EventType.DELETED:
            deleted.set()

    def on_children(event):
        children_seen.append(event)
        children_changed.set()

    watcher.get("/brokers-demo/1", watch=on_data)
    watcher.get_children("/brokers-demo", watch=on_children)
    owner.stop()  # closes the session

    assert deleted.wait(WAIT_S), "no NodeDeleted event after the owning session closed"
    assert children_changed.wait(WAIT_S), "no NodeChildrenChanged event on the parent"
    assert watcher.exists("/brokers-demo/1") is None
    assert watcher.get_children("/brokers-demo") == []


def test_data_watch_fires_once_per_registration(zk):
    a, b = zk(), zk()
    a.create("/w", b"0")
    events = []
    fired = threading.Event()

    def on_change(event):
        events.append(event)
        fired.set()

    a.get("/w", watch=on_change)
    b.set("/w", b"1")
    assert fired.wait(WAIT_S)
    assert events[0].type == EventType.CHANGED and events[0].path == "/w"
    # One-shot: a second change without re-registering is not delivered.
    b.set("/w", b"2")
    assert a.get("/w")[0] == b"2"  # a round trip after the write: any event would have arrived
    assert len(events) == 1


def test_transactions_are_all_or_nothing(zk):
    c = zk()
    c.create("/tx", b"")
    t = c.transaction()
    t.check("/tx", 0)
    t.create("/tx/a", b"1")
    t.set_data("/tx", b"committed")
    results = t.commit()
    assert results[1] == "/tx/a"
    assert c.get("/tx")[0] == b"committed"

    t = c.transaction()
    t.create("/tx/b", b"2")
    t.check("/tx", 0)  # stale: the version is 1 now
    results = t.commit()
    assert any(isinstance(r, BadVersionError) for r in results), results
    assert c.exists("/tx/b") is None, "a failed transaction must not leave its creates behind"


def test_ephemeral_node_goes_when_its_owner_dies_without_closing(zk, broker):
    """The owner is killed with SIGKILL (no closeSession): its node stays until the session
    times out, then goes and the watcher hears it."""
    import subprocess
    import sys

    watcher = zk()
    watcher.ensure_path("/members")
    owner = subprocess.run([sys.executable, "-c", f"""
import os, signal
from kazoo.client import KazooClient
c = KazooClient(hosts="{broker.keeper}", timeout=4)
c.start(timeout=30)
c.create("/members/m1", b"", ephemeral=True)
os.kill(os.getpid(), signal.SIGKILL)
"""], timeout=60)
    assert owner.returncode == -9
    assert watcher.exists("/members/m1") is not None, "the session outlives its connection until it times out"
    gone = threading.Event()
    watcher.exists("/members/m1", watch=lambda e: e.type == EventType.DELETED and gone.set())
    assert gone.wait(WAIT_S), "the dead owner's ephemeral node was not removed at session expiry"
    assert watcher.get_children("/members") == []
