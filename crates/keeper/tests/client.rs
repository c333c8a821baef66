//! The client half, one suite run twice: against keeper (in process) and against Apache
//! ZooKeeper 3.8 (Debian's `zookeeper` package, which scripts/test installs) started here on a
//! loopback port. Both must behave alike.

use std::time::Duration;

use bytes::Bytes;
use sluice_keeper::{CreateMode, EventType, MultiOp, MultiResult, SessionState, ZkClient, ZkError};

mod common;

use common::{connect, free_port, keeper, within, zookeeper};

/// The suite both servers must pass.
async fn suite(servers: &str) {
    // A dead address first in the list: the client moves on to the next server.
    let a = connect(&format!("127.0.0.1:1,{servers}")).await;
    let b = connect(servers).await;
    assert_ne!(a.session_id(), 0);
    assert_ne!(a.session_id(), b.session_id());

    // Versioned writes.
    assert_eq!(a.create("/suite", b"v0", CreateMode::Persistent).await, Ok("/suite".into()));
    assert_eq!(a.create("/suite", b"again", CreateMode::Persistent).await, Err(ZkError::NodeExists));
    let (data, stat) = b.get_data("/suite").await.expect("get");
    assert_eq!((&data[..], stat.version), (&b"v0"[..], 0));
    assert_eq!(b.set_data("/suite", b"v1", 0).await.expect("cas").version, 1);
    assert_eq!(a.set_data("/suite", b"stale", 0).await, Err(ZkError::BadVersion));
    assert_eq!(a.get_data("/missing").await, Err(ZkError::NoNode));
    assert_eq!(a.exists("/missing").await, Ok(None));

    // Compare-and-set increments from two sessions never lose an update.
    a.create("/suite/counter", b"0", CreateMode::Persistent).await.expect("counter");
    let increment = |c: ZkClient| async move {
        for _ in 0..20 {
            loop {
                let (data, stat) = c.get_data("/suite/counter").await.expect("read counter");
                let n: u32 = std::str::from_utf8(&data).expect("utf8").parse().expect("number");
                match c.set_data("/suite/counter", (n + 1).to_string().as_bytes(), stat.version).await {
                    Ok(_) => break,
                    Err(ZkError::BadVersion) => continue,
                    Err(e) => panic!("increment failed: {e}"),
                }
            }
        }
    };
    tokio::join!(increment(a.clone()), increment(b.clone()));
    assert_eq!(&a.get_data("/suite/counter").await.expect("final").0[..], b"40");

    // Sequential names count up per parent.
    let q1 = a.create("/suite/q-", b"", CreateMode::PersistentSequential).await.expect("seq");
    let q2 = a.create("/suite/q-", b"", CreateMode::PersistentSequential).await.expect("seq");
    assert!(q1.starts_with("/suite/q-") && q1.len() == "/suite/q-".len() + 10, "{q1}");
    let n = |q: &str| q[q.len() - 10..].parse::<u32>().expect("sequence number");
    assert_eq!(n(&q2), n(&q1) + 1);
    assert_eq!(a.delete("/suite", -1).await, Err(ZkError::NotEmpty));

    // multi: all or nothing.
    let committed = a
        .multi(&[
            MultiOp::Check { path: "/suite".into(), version: 1 },
            MultiOp::Create { path: "/suite/m".into(), data: Bytes::from_static(b"1"), mode: CreateMode::Persistent },
            MultiOp::SetData { path: "/suite/m".into(), data: Bytes::from_static(b"2"), version: 0 },
            MultiOp::Delete { path: q1.clone(), version: -1 },
        ])
        .await
        .expect("multi commits");
    assert!(
        matches!(&committed[..], [MultiResult::Checked, MultiResult::Created(p), MultiResult::Set(s), MultiResult::Deleted]
        if p == "/suite/m" && s.version == 1),
        "{committed:?}"
    );
    let failed = a
        .multi(&[
            MultiOp::Create { path: "/suite/never".into(), data: Bytes::new(), mode: CreateMode::Persistent },
            MultiOp::Check { path: "/suite".into(), version: 0 },
        ])
        .await;
    assert_eq!(failed, Err(ZkError::BadVersion));
    assert_eq!(a.exists("/suite/never").await, Ok(None), "a failed multi leaves nothing behind");

    // An ephemeral node: child and exists watches fire once; it goes when its session closes.
    let owner = connect(servers).await;
    let (_, children_changed) = b.get_children_watch("/suite").await.expect("children");
    owner.create("/suite/member", b"", CreateMode::Ephemeral).await.expect("ephemeral");
    let event = within("NodeChildrenChanged", children_changed).await.expect("event");
    assert_eq!((event.event_type, event.path.as_str()), (EventType::NodeChildrenChanged as i32, "/suite"));
    let (stat, deleted) = b.exists_watch("/suite/member").await.expect("exists");
    assert_eq!(stat.expect("present").ephemeral_owner, owner.session_id());
    owner.close().await.expect("close");
    assert_eq!(*owner.state().borrow(), SessionState::Closed);
    let event = within("NodeDeleted", deleted).await.expect("event");
    assert_eq!((event.event_type, event.path.as_str()), (EventType::NodeDeleted as i32, "/suite/member"));
    assert_eq!(b.exists("/suite/member").await, Ok(None));
    assert!(owner.get_data("/suite").await.is_err(), "a closed session serves nothing");

    // A persistent recursive watch hears the subtree, in order, until the session ends.
    let mut events = a.add_watch("/suite", true).await.expect("addWatch");
    b.create("/suite/deep", b"", CreateMode::Persistent).await.expect("create");
    b.set_data("/suite/deep", b"x", -1).await.expect("set");
    b.delete("/suite/deep", -1).await.expect("delete");
    let mut seen = Vec::new();
    for _ in 0..3 {
        match within("a recursive watch event", events.recv()).await.expect("stream open") {
            sluice_keeper::WatchNotice::Event(e) => seen.push((e.event_type, e.path)),
            other => panic!("three events cannot overflow the queue: {other:?}"),
        }
    }
    assert_eq!(
        seen,
        vec![
            (EventType::NodeCreated as i32, "/suite/deep".to_string()),
            (EventType::NodeDataChanged as i32, "/suite/deep".to_string()),
            (EventType::NodeDeleted as i32, "/suite/deep".to_string()),
        ]
    );
    // A session taken over by its credentials (a restarted process closing the session its
    // crashed run left open): the new handle owns its ephemeral nodes; closing it removes them at
    // once, and the original holder (a zombie) finds its session expired.
    let zombie = connect(servers).await;
    zombie.create("/suite/zombie", b"", CreateMode::Ephemeral).await.expect("ephemeral");
    // The zombie's client reconnects too, taking the session back from the heir now and then
    // (ZooKeeper moves a session to its newest connection): the heir retries until its close
    // lands, or finds the session already gone because an earlier close landed unanswered.
    let credentials = zombie.credentials();
    within("taking the session over and closing it", async {
        loop {
            match ZkClient::resume(servers, Duration::from_secs(10), credentials.clone()).await {
                Ok(heir) => {
                    assert_eq!(heir.session_id(), credentials.session_id);
                    if heir.close().await.is_ok() {
                        return;
                    }
                }
                Err(ZkError::SessionExpired) => return,
                Err(_) => {}
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!(b.exists("/suite/zombie").await, Ok(None), "its ephemeral node goes with it");
    let mut state = zombie.state();
    within("the zombie told its session is gone", async {
        loop {
            // A request on the old connection fails; reconnecting reports the session expired.
            let _ = zombie.exists("/suite").await;
            if *state.borrow_and_update() == SessionState::Expired {
                return;
            }
            let _ = tokio::time::timeout(Duration::from_millis(200), state.changed()).await;
        }
    })
    .await;
    assert_eq!(
        within("resume", ZkClient::resume(servers, Duration::from_secs(10), zombie.credentials())).await.err(),
        Some(ZkError::SessionExpired),
        "a closed session cannot be resumed"
    );

    a.close().await.expect("close");
    b.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_against_keeper() {
    suite(&keeper().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_against_apache_zookeeper() {
    let (_zk, servers) = zookeeper();
    suite(&servers).await;
}

#[tokio::test]
async fn no_reachable_server_is_a_clear_error() {
    let port = free_port();
    let r = ZkClient::connect(&format!("127.0.0.1:{port}"), Duration::from_secs(2)).await;
    assert_eq!(r.map(drop), Err(ZkError::ConnectionLoss));
    assert_eq!(ZkClient::connect("", Duration::from_secs(2)).await.map(drop), Err(ZkError::BadArguments));
}
