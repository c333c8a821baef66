"""The embedded keeper inspected with Apache ZooKeeper's own shell, zkCli.sh (Debian's
`zookeeper` package, installed by scripts/test)."""

import os
import subprocess

ZKCLI = os.environ.get("ZKCLI", "/usr/share/zookeeper/bin/zkCli.sh")


def zkcli(broker, *command, script=None):
    """Runs one zkCli.sh command in its own session (or, with `script`, an interactive session
    fed those lines, which closes its session on `quit`); returns the output after the banner."""
    assert os.access(ZKCLI, os.X_OK), f"{ZKCLI} missing: scripts/test installs Debian's zookeeper"
    r = subprocess.run([ZKCLI, "-server", broker.keeper, *command], input=script, capture_output=True, text=True,
                       timeout=120)
    out = r.stdout + r.stderr
    assert "SyncConnected" in out, f"zkCli.sh never connected:\n{out}"
    after = out.split("WatchedEvent state:SyncConnected type:None path:null", 1)[1]
    # Java's logging facade complains on stderr about its missing backend; that is not output.
    return "\n".join(line for line in after.splitlines() if not line.startswith("SLF4J:")).strip()


def test_zkcli_creates_reads_and_lists(broker):
    assert zkcli(broker, "create", "/hello", "world") == "Created /hello"
    out = zkcli(broker, "get", "-s", "/hello")
    lines = out.splitlines()
    assert lines[0] == "world"
    stat = dict(line.split(" = ", 1) for line in lines[1:] if " = " in line)
    assert stat["dataVersion"] == "0" and stat["dataLength"] == "5" and stat["numChildren"] == "0"
    assert stat["ephemeralOwner"] == "0x0"

    zkcli(broker, "set", "/hello", "again")
    assert zkcli(broker, "create", "-s", "/hello/seq-", "x") == "Created /hello/seq-0000000000"
    stat = dict(line.split(" = ", 1) for line in zkcli(broker, "stat", "/hello").splitlines() if " = " in line)
    assert (stat["dataVersion"], stat["cversion"], stat["numChildren"]) == ("1", "1", "1")
    listing = zkcli(broker, "ls", "-R", "/").splitlines()
    assert "/hello" in listing and "/hello/seq-0000000000" in listing and "/zookeeper" in listing
    assert "'world,'anyone" in zkcli(broker, "getAcl", "/hello")
    # ACLs are enforced: read-only for everyone, and a write is refused.
    zkcli(broker, "setAcl", "/hello", "world:anyone:r")
    acl = zkcli(broker, "getAcl", "/hello")
    assert "'world,'anyone\n: r" in acl, acl
    assert "Insufficient permission : /hello" in zkcli(broker, "set", "/hello", "refused")


def test_zkcli_sees_errors_and_ephemeral_lifetimes(broker):
    assert "Node does not exist: /nope" in zkcli(broker, "get", "/nope")
    zkcli(broker, "create", "/p", "")
    assert "Node already exists: /p" in zkcli(broker, "create", "/p", "")
    # An ephemeral node lives as long as the zkCli session that made it; `quit` closes the
    # session. A watch set with `get -w` fires on the session's own write.
    out = zkcli(broker, script="create -e /p/e x\nls /p\nget -w /p/e\nset /p/e y\nquit\n")
    assert "Created /p/e" in out and "[e]" in out, out
    assert "type:NodeDataChanged path:/p/e" in out, out
    assert zkcli(broker, "ls", "/p") == "[]"
    zkcli(broker, "deleteall", "/p")
    # What is left is the broker's own cluster metadata, in Kafka's znode layout.
    # Kafka's top-level paths, the ACL stores and their change queues among them.
    assert zkcli(broker, "ls", "/") == ("[admin, brokers, cluster, config, controller, controller_epoch, kafka-acl, "
                                        "kafka-acl-changes, kafka-acl-extended, kafka-acl-extended-changes, zookeeper]")
    assert zkcli(broker, "ls", "/brokers/ids") == "[0]"


def test_zkcli_persistent_recursive_watch_sees_the_whole_subtree(broker):
    # addWatch (ZooKeeper 3.6+) keeps firing for every change under the path; events print
    # before the session's Closed event.
    out = zkcli(broker, script="create /t\naddWatch -m PERSISTENT_RECURSIVE /t\ncreate /t/a 1\ncreate /t/a/b 2\n"
                               "set /t/a/b 3\ndelete /t/a/b\nls /t\nquit\n")
    events = [line for line in out.splitlines() if line.startswith("WatchedEvent state:SyncConnected type:Node")]
    assert events == [
        "WatchedEvent state:SyncConnected type:NodeCreated path:/t/a",
        "WatchedEvent state:SyncConnected type:NodeCreated path:/t/a/b",
        "WatchedEvent state:SyncConnected type:NodeDataChanged path:/t/a/b",
        "WatchedEvent state:SyncConnected type:NodeDeleted path:/t/a/b",
    ], out
