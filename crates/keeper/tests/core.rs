//! The sans-I/O keeper core: znode operations with ZooKeeper's exact Stat bookkeeping, errors,
//! sequential and ephemeral nodes, atomic multi, session close, and watch semantics.

use bytes::Bytes;
use sluice_keeper::data_tree::validate_path;
use sluice_keeper::{CreateMode, DataTree, EventType, Op, OpResult, WatchKind, WatchManager, ZkError};

fn create(
    tree: &mut DataTree,
    path: &str,
    data: &str,
    mode: CreateMode,
    session: i64,
    zxid: i64,
) -> Result<OpResult, ZkError> {
    tree.apply(
        &Op::Create { path: path.into(), data: Bytes::from(data.to_string()), mode },
        session,
        zxid,
        1000 + zxid,
        &mut Vec::new(),
    )
}

#[test]
fn create_set_delete_keep_stat_exactly_as_zookeeper() {
    let mut t = DataTree::new();
    let Ok(OpResult::Created { path, stat }) = create(&mut t, "/a", "hello", CreateMode::Persistent, 0, 5) else {
        panic!()
    };
    assert_eq!(path, "/a");
    assert_eq!((stat.czxid, stat.mzxid, stat.pzxid, stat.ctime, stat.mtime), (5, 5, 5, 1005, 1005));
    assert_eq!(
        (stat.version, stat.cversion, stat.data_length, stat.num_children, stat.ephemeral_owner),
        (0, 0, 5, 0, 0)
    );
    let root = t.exists("/").expect("valid").expect("root");
    assert_eq!((root.cversion, root.num_children, root.pzxid), (1, 2, 5), "/zookeeper and /a");

    let mut changes = Vec::new();
    let Ok(OpResult::Set { stat }) = t.apply(
        &Op::SetData { path: "/a".into(), data: Bytes::from_static(b"hi"), version: 0 },
        0,
        6,
        2000,
        &mut changes,
    ) else {
        panic!()
    };
    assert_eq!((stat.version, stat.mzxid, stat.mtime, stat.data_length, stat.czxid), (1, 6, 2000, 2, 5));
    assert_eq!(
        t.apply(&Op::SetData { path: "/a".into(), data: Bytes::new(), version: 0 }, 0, 7, 0, &mut changes),
        Err(ZkError::BadVersion)
    );

    create(&mut t, "/a/b", "", CreateMode::Persistent, 0, 8).expect("child");
    let a = t.exists("/a").expect("ok").expect("exists");
    assert_eq!(
        (a.cversion, a.num_children, a.pzxid, a.mzxid),
        (1, 1, 8, 6),
        "child create bumps cversion and pzxid, not mzxid"
    );
    assert_eq!(t.apply(&Op::Delete { path: "/a".into(), version: -1 }, 0, 9, 0, &mut changes), Err(ZkError::NotEmpty));
    t.apply(&Op::Delete { path: "/a/b".into(), version: 0 }, 0, 10, 0, &mut changes).expect("delete");
    let a = t.exists("/a").expect("ok").expect("exists");
    assert_eq!((a.cversion, a.num_children, a.pzxid), (2, 0, 10));
    assert_eq!(
        t.apply(&Op::Delete { path: "/a".into(), version: 5 }, 0, 11, 0, &mut changes),
        Err(ZkError::BadVersion)
    );
    t.apply(&Op::Delete { path: "/a".into(), version: 1 }, 0, 11, 0, &mut changes)
        .expect("delete with the right version");
    assert_eq!(t.get_data("/a"), Err(ZkError::NoNode));
}

#[test]
fn errors_match_zookeeper() {
    let mut t = DataTree::new();
    assert_eq!(create(&mut t, "/x/y", "", CreateMode::Persistent, 0, 1), Err(ZkError::NoNode), "missing parent");
    create(&mut t, "/x", "", CreateMode::Persistent, 0, 2).expect("create");
    assert_eq!(create(&mut t, "/x", "", CreateMode::Persistent, 0, 3), Err(ZkError::NodeExists));
    create(&mut t, "/e", "", CreateMode::Ephemeral, 42, 4).expect("ephemeral");
    assert_eq!(create(&mut t, "/e/child", "", CreateMode::Persistent, 42, 5), Err(ZkError::NoChildrenForEphemerals));
    for bad in ["", "x", "/x/", "//", "/x//y", "/x/./y", "/x/../y"] {
        assert_eq!(validate_path(bad), Err(ZkError::BadArguments), "{bad:?}");
    }
    assert_eq!(CreateMode::from_flags(9), Err(ZkError::BadArguments));
}

#[test]
fn paths_with_characters_zookeeper_refuses_are_bad_arguments() {
    // PathUtils.validatePath's ranges, at both ends of each, and a character beyond the Basic
    // Multilingual Plane (a surrogate pair in Java).
    for c in ['\u{1}', '\u{1f}', '\u{7f}', '\u{9f}', '\u{e000}', '\u{f8ff}', '\u{fff0}', '\u{ffff}', '\u{1f600}'] {
        let path = format!("/a{c}b");
        assert_eq!(validate_path(&path), Err(ZkError::BadArguments), "{path:?}");
    }
    for good in [
        "/",
        "/a",
        "/a/b.c",
        "/...",
        "/a/.b",
        "/\u{20}",
        "/\u{a0}",
        "/\u{d7ff}",
        "/\u{f900}",
        "/\u{ffef}",
        "/caf\u{e9}",
    ] {
        assert_eq!(validate_path(good), Ok(()), "{good:?}");
    }
}

#[test]
fn sequential_names_use_the_parents_cversion() {
    let mut t = DataTree::new();
    create(&mut t, "/q", "", CreateMode::Persistent, 0, 1).expect("parent");
    let names: Vec<String> = (0..3)
        .map(|i| match create(&mut t, "/q/item-", "", CreateMode::PersistentSequential, 0, 10 + i) {
            Ok(OpResult::Created { path, .. }) => path,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(names, ["/q/item-0000000000", "/q/item-0000000001", "/q/item-0000000002"]);
    t.apply(&Op::Delete { path: "/q/item-0000000001".into(), version: -1 }, 0, 20, 0, &mut Vec::new()).expect("delete");
    let Ok(OpResult::Created { path, .. }) = create(&mut t, "/q/item-", "", CreateMode::EphemeralSequential, 7, 21)
    else {
        panic!()
    };
    assert_eq!(path, "/q/item-0000000004", "the counter is the parent's cversion, which deletes also bump");
}

#[test]
fn closing_a_session_deletes_its_ephemerals_only() {
    let mut t = DataTree::new();
    create(&mut t, "/brokers", "", CreateMode::Persistent, 0, 1).expect("create");
    create(&mut t, "/brokers/1", "a", CreateMode::Ephemeral, 100, 2).expect("create");
    create(&mut t, "/brokers/2", "b", CreateMode::Ephemeral, 200, 3).expect("create");
    assert_eq!(t.exists("/brokers/1").expect("ok").map(|s| s.ephemeral_owner), Some(100));
    let mut changes = Vec::new();
    assert_eq!(t.close_session(100, 4, &mut changes), vec!["/brokers/1".to_string()]);
    assert!(t.exists("/brokers/1").expect("ok").is_none());
    assert!(t.exists("/brokers/2").expect("ok").is_some());
    assert!(changes.contains(&(EventType::NodeDeleted, "/brokers/1".to_string())));
}

#[test]
fn multi_is_all_or_nothing() {
    let mut t = DataTree::new();
    create(&mut t, "/m", "v", CreateMode::Persistent, 0, 1).expect("create");
    let ops = vec![
        Op::Create { path: "/m/new".into(), data: Bytes::new(), mode: CreateMode::Persistent },
        Op::SetData { path: "/m".into(), data: Bytes::from_static(b"w"), version: 0 },
        Op::Check { path: "/m".into(), version: 0 },
    ];
    let mut changes = Vec::new();
    let result = t.apply(&Op::Multi(ops), 0, 2, 0, &mut changes).expect("multi answers");
    assert_eq!(result.multi_error_codes(), Some(vec![0, 0, ZkError::BadVersion.code()]), "the check sees version 1");
    assert!(t.exists("/m/new").expect("ok").is_none(), "nothing applied");
    assert_eq!(t.get_data("/m").expect("exists").0, Bytes::from_static(b"v"));
    assert!(changes.is_empty(), "no watcher hears of a rolled-back multi");
    let ops = vec![
        Op::Check { path: "/m".into(), version: 0 },
        Op::Create { path: "/m/new".into(), data: Bytes::new(), mode: CreateMode::Persistent },
        Op::Delete { path: "/m/missing".into(), version: -1 },
        Op::SetData { path: "/m".into(), data: Bytes::new(), version: -1 },
    ];
    let result = t.apply(&Op::Multi(ops), 0, 3, 0, &mut changes).expect("multi answers");
    assert_eq!(
        result.multi_error_codes(),
        Some(vec![0, 0, ZkError::NoNode.code(), ZkError::RuntimeInconsistency.code()])
    );
    let ops = vec![
        Op::Check { path: "/m".into(), version: 0 },
        Op::Create { path: "/m/new".into(), data: Bytes::new(), mode: CreateMode::Persistent },
    ];
    assert!(matches!(t.apply(&Op::Multi(ops), 0, 4, 0, &mut changes), Ok(OpResult::Multi(r)) if r.len() == 2));
    assert!(t.exists("/m/new").expect("ok").is_some());
}

#[test]
fn one_shot_watches_fire_once_and_persistent_ones_keep_firing() {
    let mut t = DataTree::new();
    let mut w = WatchManager::default();
    create(&mut t, "/w", "", CreateMode::Persistent, 0, 1).expect("create");
    w.add(1, "/w", WatchKind::Data).expect("watch");
    w.add(1, "/w", WatchKind::Child).expect("watch");
    w.add(2, "/w/c", WatchKind::Data).expect("exists watch on a missing node");
    w.add(3, "/", WatchKind::PersistentRecursive).expect("watch");
    w.add(4, "/w", WatchKind::Persistent).expect("watch");

    let mut changes = Vec::new();
    t.apply(
        &Op::Create { path: "/w/c".into(), data: Bytes::new(), mode: CreateMode::Persistent },
        0,
        2,
        0,
        &mut changes,
    )
    .expect("create");
    let events = w.trigger(&changes);
    let got: Vec<(i64, EventType, &str)> = events.iter().map(|(s, e)| (*s, e.event_type, e.path.as_str())).collect();
    assert!(got.contains(&(2, EventType::NodeCreated, "/w/c")), "exists watch hears the creation");
    assert!(got.contains(&(1, EventType::NodeChildrenChanged, "/w")), "child watch");
    assert!(got.contains(&(3, EventType::NodeCreated, "/w/c")), "recursive watch hears descendants");
    assert!(
        got.contains(&(4, EventType::NodeChildrenChanged, "/w")),
        "persistent watch hears child changes of its node"
    );
    assert!(
        !got.iter().any(|(s, e, _)| *s == 3 && *e == EventType::NodeChildrenChanged),
        "recursive watches skip child-list events"
    );

    let mut changes = Vec::new();
    t.apply(
        &Op::Create { path: "/w/d".into(), data: Bytes::new(), mode: CreateMode::Persistent },
        0,
        3,
        0,
        &mut changes,
    )
    .expect("create");
    let events = w.trigger(&changes);
    assert!(!events.iter().any(|(s, _)| *s == 1), "the child watch fired once and is gone");
    assert!(events.iter().any(|(s, _)| *s == 4), "the persistent watch stays");

    let mut changes = Vec::new();
    t.apply(&Op::SetData { path: "/w".into(), data: Bytes::from_static(b"x"), version: -1 }, 0, 4, 0, &mut changes)
        .expect("set");
    let events = w.trigger(&changes);
    assert_eq!(events.iter().filter(|(s, _)| *s == 1).count(), 1, "data watch fires once");
    w.remove_session(3);
    let mut changes = Vec::new();
    t.apply(&Op::SetData { path: "/w".into(), data: Bytes::from_static(b"y"), version: -1 }, 0, 5, 0, &mut changes)
        .expect("set");
    let events = w.trigger(&changes);
    assert!(!events.iter().any(|(s, _)| *s == 1 || *s == 3));
    assert_eq!(w.remove(4, "/w", WatchKind::Persistent), Ok(()));
    assert_eq!(w.remove(4, "/w", WatchKind::Persistent), Err(ZkError::NoWatcher));
}

#[test]
fn a_deleted_node_notifies_each_session_once() {
    let mut t = DataTree::new();
    let mut w = WatchManager::default();
    create(&mut t, "/d", "", CreateMode::Persistent, 0, 1).expect("create");
    w.add(1, "/d", WatchKind::Data).expect("watch");
    w.add(1, "/d", WatchKind::Child).expect("watch");
    let mut changes = Vec::new();
    t.apply(&Op::Delete { path: "/d".into(), version: -1 }, 0, 2, 0, &mut changes).expect("delete");
    let events: Vec<_> = w.trigger(&changes).into_iter().filter(|(s, e)| *s == 1 && e.path == "/d").collect();
    assert_eq!(events.len(), 1, "data and child watch of one session: one NodeDeleted");
}

#[test]
fn a_failed_multi_leaves_the_tree_exactly_as_it_was() {
    let mut t = DataTree::new();
    create(&mut t, "/p", "v", CreateMode::Persistent, 0, 1).expect("create");
    create(&mut t, "/p/leaf", "x", CreateMode::Ephemeral, 7, 2).expect("create");
    create(&mut t, "/p/kept", "y", CreateMode::Persistent, 0, 3).expect("create");
    let before = t.clone();
    // Every kind of write, sequential and ephemeral creates, a create under a node created in
    // the same multi, a delete of an ephemeral leaf, then a failing check.
    let ops = vec![
        Op::Create { path: "/p/seq-".into(), data: Bytes::from_static(b"s"), mode: CreateMode::PersistentSequential },
        Op::Create { path: "/p/eph".into(), data: Bytes::new(), mode: CreateMode::Ephemeral },
        Op::Create { path: "/p/new".into(), data: Bytes::new(), mode: CreateMode::Persistent },
        Op::Create { path: "/p/new/child".into(), data: Bytes::new(), mode: CreateMode::Persistent },
        Op::Delete { path: "/p/leaf".into(), version: -1 },
        Op::SetData { path: "/p/kept".into(), data: Bytes::from_static(b"z"), version: 0 },
        Op::SetData { path: "/p".into(), data: Bytes::from_static(b"w"), version: -1 },
        Op::Check { path: "/p/kept".into(), version: 0 },
    ];
    let mut changes = Vec::new();
    let result = t.apply(&Op::Multi(ops), 7, 4, 99, &mut changes).expect("multi answers");
    assert_eq!(result.multi_error_codes().map(|c| c[7]), Some(ZkError::BadVersion.code()));
    assert_eq!(t, before, "every node, child list, stat and session's ephemerals as before");
    assert!(changes.is_empty());
    assert_eq!(t.ephemerals_of(7), vec!["/p/leaf".to_string()]);
}
