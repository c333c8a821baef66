//! The keeper server over real TCP, speaking the jute wire format frame by frame: session
//! reattach, expiry of a silent session (its ephemeral node goes and watchers hear it), and
//! malformed input that must not take the server down.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use sluice_keeper::Keeper;
use sluice_keeper::jute::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BOUND: Duration = Duration::from_secs(30);

async fn start() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    let dir = tempfile::tempdir().expect("tempdir").keep();
    let keeper = Keeper::start(sluice_keeper::KeeperConfig::single(dir), None).await.expect("keeper starts");
    tokio::spawn(keeper.serve(listener));
    addr
}

fn frame(body: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
    let mut b = BytesMut::new();
    body(&mut b);
    let mut out = (b.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&b);
    out
}

async fn read_frame(s: &mut TcpStream) -> Option<Bytes> {
    let mut len = [0u8; 4];
    tokio::time::timeout(BOUND, s.read_exact(&mut len)).await.expect("reply within bound").ok()?;
    let mut body = vec![0; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).await.ok()?;
    Some(Bytes::from(body))
}

struct Conn {
    s: TcpStream,
    xid: i32,
    events: Vec<WatcherEvent>,
    session: i64,
    passwd: Bytes,
    timeout_ms: i32,
}

impl Conn {
    async fn open(addr: std::net::SocketAddr, timeout_ms: i32, session_id: i64, passwd: Bytes) -> Conn {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        let req =
            ConnectRequest { protocol_version: 0, last_zxid_seen: 0, timeout_ms, session_id, passwd: Some(passwd) };
        s.write_all(&frame(|o| req.write(o))).await.expect("send connect");
        let mut reply = read_frame(&mut s).await.expect("connect response");
        let r = ConnectResponse::read(&mut reply).expect("connect response decodes");
        Conn {
            s,
            xid: 0,
            events: Vec::new(),
            session: r.session_id,
            passwd: r.passwd.unwrap_or_default(),
            timeout_ms: r.timeout_ms,
        }
    }

    /// Sends one request and returns its reply header and body; notifications met on the way
    /// are kept in `events`.
    async fn call(&mut self, op: i32, body: impl FnOnce(&mut BytesMut)) -> (ReplyHeader, Bytes) {
        self.xid += 1;
        let xid = if op == op::PING { PING_XID } else { self.xid };
        self.s
            .write_all(&frame(|o| {
                RequestHeader { xid, op }.write(o);
                body(o);
            }))
            .await
            .expect("send request");
        loop {
            let mut f = read_frame(&mut self.s).await.expect("reply");
            let h = ReplyHeader::read(&mut f).expect("reply header decodes");
            if h.xid == NOTIFICATION_XID {
                self.events.push(WatcherEvent::read(&mut f).expect("event decodes"));
                continue;
            }
            assert_eq!(h.xid, xid);
            return (h, f);
        }
    }

    async fn create(&mut self, path: &str, flags: i32) -> i32 {
        let req = CreateRequest { path: path.into(), data: Some(Bytes::from_static(b"d")), acl: open_acl(), flags };
        self.call(op::CREATE, |o| req.write(o)).await.0.err
    }

    async fn exists(&mut self, path: &str, watch: bool) -> i32 {
        let req = PathWatchRequest { path: path.into(), watch };
        self.call(op::EXISTS, |o| req.write(o)).await.0.err
    }
}

fn open_acl() -> Vec<Acl> {
    vec![Acl { perms: 31, id: Id { scheme: "world".into(), id: "anyone".into() } }]
}

const NO_NODE: i32 = -101;
const EPHEMERAL: i32 = 1;
const NODE_DELETED: i32 = 2;

#[tokio::test]
async fn a_session_survives_a_reconnect_with_its_password() {
    let addr = start().await;
    let mut a = Conn::open(addr, 10_000, 0, Bytes::from_static(&[0; 16])).await;
    assert_ne!(a.session, 0);
    assert_eq!(a.timeout_ms, 10_000);
    assert_eq!(a.create("/e", EPHEMERAL).await, 0);
    let (session, passwd) = (a.session, a.passwd.clone());
    drop(a);

    // A wrong password is refused with a zero timeout, as ZooKeeper does.
    let bad = Conn::open(addr, 10_000, session, Bytes::from_static(&[7; 16])).await;
    assert_eq!((bad.session, bad.timeout_ms), (0, 0));

    let mut again = Conn::open(addr, 10_000, session, passwd).await;
    assert_eq!(again.session, session);
    assert_eq!(again.exists("/e", false).await, 0, "the ephemeral node outlives a dropped connection");
}

#[tokio::test]
async fn a_silent_session_expires_and_its_ephemeral_node_goes() {
    let addr = start().await;
    // Asked for 1 s, granted the minimum of 2 ticks.
    let mut owner = Conn::open(addr, 1_000, 0, Bytes::from_static(&[0; 16])).await;
    assert_eq!(owner.timeout_ms, 4_000);
    assert_eq!(owner.create("/brokers", 0).await, 0);
    assert_eq!(owner.create("/brokers/1", EPHEMERAL).await, 0);

    let mut watcher = Conn::open(addr, 30_000, 0, Bytes::from_static(&[0; 16])).await;
    assert_eq!(watcher.exists("/brokers/1", true).await, 0);
    // The owner now stays silent with its connection open; the watcher pings until it hears.
    let deadline = Instant::now() + BOUND;
    while !watcher.events.iter().any(|e| e.event_type == NODE_DELETED && e.path == "/brokers/1") {
        assert!(Instant::now() < deadline, "no NodeDeleted within {BOUND:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(watcher.call(op::PING, |_| {}).await.0.err, 0);
    }
    assert_eq!(watcher.exists("/brokers/1", false).await, NO_NODE);

    let gone = Conn::open(addr, 4_000, owner.session, owner.passwd.clone()).await;
    assert_eq!((gone.session, gone.timeout_ms), (0, 0), "an expired session cannot be reattached");
}

#[tokio::test]
async fn malformed_frames_close_only_their_connection() {
    let addr = start().await;
    for garbage in [vec![0xff, 0xff, 0xff, 0xff], vec![0x7f, 0, 0, 0], vec![0, 0, 0, 3, 1, 2, 3]] {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(&garbage).await.expect("send garbage");
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(BOUND, s.read(&mut buf)).await.expect("closed within bound").unwrap_or_default();
        assert_eq!(n, 0, "the server answers garbage by closing the connection");
    }
    let mut ok = Conn::open(addr, 10_000, 0, Bytes::from_static(&[0; 16])).await;
    assert_eq!(ok.create("/still-serving", 0).await, 0);
}

#[tokio::test]
async fn watches_set_again_after_a_reconnect_fire_for_what_was_missed() {
    let addr = start().await;
    let mut a = Conn::open(addr, 10_000, 0, Bytes::from_static(&[0; 16])).await;
    assert_eq!(a.create("/x", 0).await, 0);
    assert_eq!(a.create("/quiet", 0).await, 0);
    let (h, _) = a.call(op::EXISTS, |o| PathWatchRequest { path: "/x".into(), watch: false }.write(o)).await;
    let seen_zxid = h.zxid;
    let (session, passwd) = (a.session, a.passwd.clone());
    drop(a);

    // While `a` is away: /x changes, /new appears, the root's children change; /quiet does not.
    let mut b = Conn::open(addr, 10_000, 0, Bytes::from_static(&[0; 16])).await;
    let req = SetDataRequest { path: "/x".into(), data: Some(Bytes::from_static(b"v2")), version: -1 };
    assert_eq!(b.call(op::SET_DATA, |o| req.write(o)).await.0.err, 0);
    assert_eq!(b.create("/new", 0).await, 0);

    let mut a = Conn::open(addr, 10_000, session, passwd).await;
    assert_eq!(a.session, session);
    let watches = SetWatches2 {
        relative_zxid: seen_zxid,
        data_watches: vec!["/x".into(), "/quiet".into()],
        exist_watches: vec!["/new".into()],
        child_watches: vec!["/".into()],
        ..Default::default()
    };
    assert_eq!(a.call(op::SET_WATCHES2, |o| watches.write(o)).await.0.err, 0);
    let mut got: Vec<(i32, String)> = a.events.iter().map(|e| (e.event_type, e.path.clone())).collect();
    got.sort();
    assert_eq!(got, vec![(1, "/new".to_string()), (3, "/x".to_string()), (4, "/".to_string())]);

    // The watch on the unchanged node stays registered and fires on its next change.
    let req = SetDataRequest { path: "/quiet".into(), data: None, version: -1 };
    assert_eq!(b.call(op::SET_DATA, |o| req.write(o)).await.0.err, 0);
    let deadline = Instant::now() + BOUND;
    while !a.events.iter().any(|e| e.path == "/quiet") {
        assert!(Instant::now() < deadline, "no event for /quiet");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(a.call(op::PING, |_| {}).await.0.err, 0);
    }
}

async fn four_letter_word(addr: std::net::SocketAddr, word: &str) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(word.as_bytes()).await.expect("send");
    let mut out = String::new();
    tokio::time::timeout(BOUND, s.read_to_string(&mut out)).await.expect("answer within bound").expect("read");
    out
}

#[tokio::test]
async fn four_letter_words_answer_on_the_client_port() {
    let addr = start().await;
    let mut c = Conn::open(addr, 10_000, 0, Bytes::from_static(&[0; 16])).await;
    assert_eq!(c.create("/e", EPHEMERAL).await, 0);
    assert_eq!(four_letter_word(addr, "ruok").await, "imok");
    let mntr = four_letter_word(addr, "mntr").await;
    // The root, /zookeeper and /e.
    assert!(mntr.contains("zk_znode_count\t3\n"), "{mntr}");
    assert!(mntr.contains("zk_ephemerals_count\t1\n") && mntr.contains("zk_num_alive_connections\t1\n"), "{mntr}");
    let srvr = four_letter_word(addr, "srvr").await;
    assert!(srvr.starts_with("Zookeeper version: sluice-keeper") && srvr.contains("Mode: standalone"), "{srvr}");
    assert_eq!(four_letter_word(addr, "dump").await, "dump is not executed because it is not in the whitelist.\n");
    // The session is unaffected.
    assert_eq!(c.exists("/e", false).await, 0);
}

#[tokio::test]
async fn session_timeouts_are_clamped_to_the_configured_bounds() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    let dir = tempfile::tempdir().expect("tempdir").keep();
    let config = sluice_keeper::KeeperConfig { data_dir: dir, ..sluice_keeper::KeeperConfig::with_tick(100) };
    let keeper = Keeper::start(config, None).await.expect("keeper starts");
    tokio::spawn(keeper.serve(listener));
    for (asked, granted) in [(10, 200), (1_000, 1_000), (60_000, 2_000)] {
        let c = Conn::open(addr, asked, 0, Bytes::from_static(&[0; 16])).await;
        assert_eq!(c.timeout_ms, granted, "asked for {asked} ms");
    }
    // A 200 ms session left silent expires quickly under the small tick.
    let mut silent = Conn::open(addr, 200, 0, Bytes::from_static(&[0; 16])).await;
    assert_eq!(silent.create("/short", EPHEMERAL).await, 0);
    let mut watcher = Conn::open(addr, 2_000, 0, Bytes::from_static(&[0; 16])).await;
    let deadline = Instant::now() + BOUND;
    while watcher.exists("/short", false).await != NO_NODE {
        assert!(Instant::now() < deadline, "the silent session's node outlived {BOUND:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_that_stops_reading_is_disconnected_not_silently_skipped() {
    let addr = start().await;
    let mut lazy = Conn::open(addr, 30_000, 0, Bytes::from_static(&[0; 16])).await;
    let req = AddWatchRequest { path: "/".into(), mode: 1 };
    assert_eq!(lazy.call(op::ADD_WATCH, |o| req.write(o)).await.0.err, 0);
    let (session, passwd) = (lazy.session, lazy.passwd.clone());

    // `lazy` reads nothing while a writer makes far more changes than its queue and the socket
    // buffers hold (each multi changes the node a thousand times).
    let mut writer = Conn::open(addr, 30_000, 0, Bytes::from_static(&[0; 16])).await;
    assert_eq!(writer.create("/hot", 0).await, 0);
    let mut multi = BytesMut::new();
    for _ in 0..1_000 {
        MultiHeader { op: op::SET_DATA, done: false, err: -1 }.write(&mut multi);
        SetDataRequest { path: "/hot".into(), data: Some(Bytes::from_static(b"x")), version: -1 }.write(&mut multi);
    }
    MultiHeader { op: -1, done: true, err: -1 }.write(&mut multi);
    for _ in 0..300 {
        assert_eq!(writer.call(op::MULTI, |o| o.extend_from_slice(&multi)).await.0.err, 0);
    }

    // Its next request finds the connection cut: reading drains what was queued, then ends.
    let ping = frame(|o| RequestHeader { xid: PING_XID, op: op::PING }.write(o));
    let _ = lazy.s.write_all(&ping).await;
    let deadline = Instant::now() + BOUND;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        assert!(Instant::now() < deadline, "the backed-up connection was not closed");
        match tokio::time::timeout(BOUND, lazy.s.read(&mut buf)).await.expect("read within bound") {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    // The session itself lives on: reattaching works and its node is still there.
    let mut again = Conn::open(addr, 30_000, session, passwd).await;
    assert_eq!(again.session, session);
    assert_eq!(again.exists("/hot", false).await, 0);
}
