//! The broker's link to keeper (or to Apache ZooKeeper): one session at a time, the broker's
//! ephemeral registration under it, and the metadata cache kept current by persistent recursive
//! watches (ZooKeeper 3.6+ `addWatch`) on `/brokers`, `/controller` and `/config/topics`.
//!
//! Lifecycle of a session: connect; register `/brokers/ids/<id>` (waiting out the previous
//! incarnation's ephemeral node after a crash, as Kafka does); add the watches; read everything
//! (a full sync); then apply each event by re-reading the znode it names. A reconnection within
//! the same session syncs fully again, because persistent watches do not replay what happened
//! while disconnected. An expired session starts the whole cycle again with a new one and bumps
//! `session_epoch`, on which the controller re-runs its election.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use parking_lot::RwLock;
use sluice_keeper::{
    ClientOptions, CreateMode, EventType, NodeEvent, SessionCredentials, SessionState, WatchNotice, ZkClient, ZkError,
};
use tokio::sync::{mpsc, watch};

use super::cache::{ClusterView, MetadataCache, TopicView, VersionedState};
use super::znodes::{
    BrokerRegistration, ClusterIdZnode, ControllerZnode, PartitionState, Paths, TopicAssignment, TopicConfigZnode,
    Znode, decode_topic_id,
};

/// Pause between attempts to reach keeper or to register.
const RETRY_BACKOFF_MS: u64 = 200;

/// Watch notices queued between the keeper session's watches and the loop that applies them, at
/// most. The loop drains everything queued into one batch, so a full queue only makes the
/// forwarding tasks wait for the batch being applied; meanwhile each watch's own bounded queue
/// (`sluice_keeper::MAX_QUEUED_WATCH_EVENTS_COUNT`) coalesces, or turns into one
/// `WatchNotice::Overflowed`, on which the loop reads everything again.
const MAX_QUEUED_WATCH_EVENTS_COUNT: usize = 4_096;

/// The file, in the broker's first log directory, that holds its current keeper session's id
/// and password: `version=1`, `session.id=<decimal>`, `password=<base64>`, one per line.
/// Written (atomically) whenever the broker opens a session, removed when it closes its session
/// on a clean shutdown.
pub const KEEPER_SESSION_FILE: &str = "keeper-session";

/// How long a starting broker tries to take over and close its previous session (after a
/// crash) before it carries on without: the session then expires by its timeout, as before.
const PREVIOUS_SESSION_CLOSE_TIMEOUT_MS: u64 = 5_000;

#[derive(Debug)]
pub struct KeeperLink {
    pub paths: Paths,
    servers: String,
    session_timeout: Duration,
    client: RwLock<Option<ZkClient>>,
    pub cache: Arc<MetadataCache>,
    /// Bumped each time a new session has registered this broker.
    session_epoch: watch::Sender<u64>,
    broker_id: i32,
    /// Set by `close`: no new session after the current one ends.
    closing: AtomicBool,
    /// Where the current session's credentials are kept (`KEEPER_SESSION_FILE`), if anywhere.
    session_file: Option<PathBuf>,
    /// The ACL authorizer, when one is configured: the link keeps its entries in step with the
    /// `/kafka-acl*` znodes (full read at each session, then their watches).
    pub authorizer: Option<Arc<crate::acl::authorizer::Authorizer>>,
    /// The credentials of every session and the ACLs of what it creates.
    options: ClientOptions,
}

type Result<T> = std::result::Result<T, ZkError>;

impl KeeperLink {
    /// `connect` is `host:port,...[/chroot]`. `session_file` keeps each session's credentials so
    /// that the next run can close it (`close_previous_session`).
    pub fn new(
        connect: &str,
        session_timeout: Duration,
        broker_id: i32,
        session_file: Option<PathBuf>,
        authorizer: Option<Arc<crate::acl::authorizer::Authorizer>>,
        options: ClientOptions,
    ) -> Arc<KeeperLink> {
        let (servers, chroot) = crate::config::split_chroot(connect);
        Arc::new(KeeperLink {
            paths: Paths::new(chroot),
            servers: servers.to_string(),
            session_timeout,
            client: RwLock::new(None),
            cache: Arc::new(MetadataCache::default()),
            session_epoch: watch::channel(0).0,
            broker_id,
            closing: AtomicBool::new(false),
            session_file,
            authorizer,
            options,
        })
    }

    /// After a crash, the previous run's session is still alive in keeper until its timeout,
    /// holding this broker's registration (and perhaps `/controller`); waiting it out kept a
    /// restarted node down for the whole session timeout. Instead, take the session over with
    /// the credentials the previous run kept and close it: its ephemeral nodes go at once, and
    /// anything still acting on it (a paused zombie of that run) finds it expired and is fenced
    /// as after any expiry. Best effort: without the file, or if the session is already gone,
    /// or keeper does not answer in time, nothing is done.
    pub async fn close_previous_session(&self) {
        let Some(path) = &self.session_file else { return };
        let previous = match read_session_file(path) {
            Ok(Some(c)) => c,
            Ok(None) => return,
            Err(reason) => {
                tracing::warn!(path = %path.display(), %reason, "ignoring an unreadable keeper session file");
                return;
            }
        };
        let id = format!("{:#x}", previous.session_id);
        let within = Duration::from_millis(PREVIOUS_SESSION_CLOSE_TIMEOUT_MS);
        let closed = tokio::time::timeout(within, async {
            loop {
                let client = ZkClient::resume_with(
                    &self.servers,
                    self.session_timeout.min(within),
                    previous.clone(),
                    self.options.clone(),
                )
                .await;
                match client {
                    Ok(client) => match client.close().await {
                        // Moved away mid-close (something else reattached it): again.
                        Err(ZkError::ConnectionLoss) => {}
                        other => return other,
                    },
                    Err(ZkError::ConnectionLoss) => {}
                    Err(e) => return Err(e),
                }
                tokio::time::sleep(Duration::from_millis(RETRY_BACKOFF_MS)).await;
            }
        })
        .await;
        match closed {
            Ok(Ok(())) => {
                tracing::info!(session = %id, "closed this broker's previous keeper session (a crash left it open)")
            }
            Ok(Err(ZkError::SessionExpired)) => {
                tracing::debug!(session = %id, "the previous keeper session is already gone")
            }
            Ok(Err(e)) => {
                tracing::warn!(session = %id, error = %e, "could not close the previous keeper session; it expires by its timeout")
            }
            Err(_) => {
                tracing::warn!(session = %id, "keeper did not answer in time to close the previous session; it expires by its timeout")
            }
        }
    }

    /// Keeps `client`'s credentials in the session file, for the next run.
    async fn remember_session(&self, client: &ZkClient) {
        let Some(path) = self.session_file.clone() else { return };
        let c = client.credentials();
        let text = format!(
            "version=1\nsession.id={}\npassword={}\n",
            c.session_id,
            base64::engine::general_purpose::STANDARD.encode(&c.passwd)
        );
        let written =
            tokio::task::spawn_blocking(move || sluice_storage::checkpoint::write_atomically(&path, text.as_bytes()))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()));
        if let Err(error) = written {
            tracing::warn!(%error, "could not keep the keeper session's credentials; after a crash it stays open until it expires");
        }
    }

    /// The current session, for writes. Errors with `ConnectionLoss` between sessions.
    pub fn client(&self) -> Result<ZkClient> {
        self.client.read().clone().ok_or(ZkError::ConnectionLoss)
    }

    /// Whether the current session is connected to a keeper server (`/ready`).
    pub fn is_connected(&self) -> bool {
        self.client
            .read()
            .as_ref()
            .is_some_and(|c| matches!(*c.state().borrow(), sluice_keeper::client::SessionState::Connected))
    }

    /// Runs `op` on the current session, and again while it fails with `ConnectionLoss` (the
    /// keeper server went away and the client is moving the session to another, or a new
    /// session is being opened), for up to the session timeout — as Kafka's ZooKeeper client
    /// retries until connected. A write that was lost may still have landed: `op` must be safe
    /// to repeat, or its caller must recognise its own earlier success.
    pub async fn retrying<T, F, Fut>(&self, mut op: F) -> Result<T>
    where
        F: FnMut(ZkClient) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let deadline = tokio::time::Instant::now() + self.session_timeout;
        loop {
            let outcome = match self.client() {
                Ok(client) => op(client).await,
                Err(e) => Err(e),
            };
            match outcome {
                Err(ZkError::ConnectionLoss) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(RETRY_BACKOFF_MS.min(100))).await;
                }
                other => return other,
            }
        }
    }

    pub fn session_epoch(&self) -> watch::Receiver<u64> {
        self.session_epoch.subscribe()
    }

    /// Opens a session, retrying until `deadline` passes.
    pub async fn connect(&self, within: Duration) -> anyhow::Result<ZkClient> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match ZkClient::connect_with(&self.servers, self.session_timeout, self.options.clone()).await {
                Ok(client) => {
                    self.remember_session(&client).await;
                    *self.client.write() = Some(client.clone());
                    return Ok(client);
                }
                Err(e) if tokio::time::Instant::now() < deadline => {
                    tracing::debug!(servers = %self.servers, error = %e, "keeper not reachable yet; retrying");
                    tokio::time::sleep(Duration::from_millis(RETRY_BACKOFF_MS)).await;
                }
                Err(e) => anyhow::bail!(
                    "cannot reach keeper at {} within {} ms (keeper.connect): {e}",
                    self.servers,
                    within.as_millis()
                ),
            }
        }
    }

    /// Creates the persistent parents and returns the cluster id from `/cluster/id`, creating it
    /// from `proposed` when this is the cluster's first broker.
    pub async fn cluster_id(&self, client: &ZkClient, proposed: &str) -> Result<String> {
        for path in self.paths.parents() {
            ensure_node(client, &path, b"").await?;
        }
        let path = self.paths.cluster_id();
        let body = serde_json::to_vec(&ClusterIdZnode { version: "1".into(), id: proposed.to_string() })
            .expect("serializing a small struct");
        match client.create(&path, &body, CreateMode::Persistent).await {
            Ok(_) | Err(ZkError::NodeExists) => {}
            Err(e) => return Err(e),
        }
        let (data, _) = client.get_data(&path).await?;
        let parsed: ClusterIdZnode = serde_json::from_slice(&data).map_err(|_| ZkError::MarshallingError)?;
        Ok(parsed.id)
    }

    /// Runs sessions forever: registration, watches, sync and events. `ready` fires after the
    /// first registration and full sync.
    pub async fn run(self: Arc<Self>, first: ZkClient, registration: BrokerRegistration, ready: watch::Sender<bool>) {
        let mut client = first;
        loop {
            let ended = self.session(&client, &registration, &ready).await;
            // Closed on purpose (shutdown): however the session's end showed itself first
            // (its event streams can close before the Closed state is seen), never open
            // another, or the broker would register again while it stops.
            if ended.is_ok() || self.closing.load(Ordering::Acquire) {
                return;
            }
            if let Err(e) = ended {
                tracing::warn!(error = %e, "keeper session ended; starting a new one");
            }
            *self.client.write() = None;
            client = loop {
                if self.closing.load(Ordering::Acquire) {
                    return;
                }
                match ZkClient::connect_with(&self.servers, self.session_timeout, self.options.clone()).await {
                    Ok(c) => {
                        self.remember_session(&c).await;
                        break c;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "reconnecting to keeper");
                        tokio::time::sleep(Duration::from_millis(RETRY_BACKOFF_MS)).await;
                    }
                }
            };
            let mut slot = self.client.write();
            if self.closing.load(Ordering::Acquire) {
                drop(slot);
                let _ = client.close().await;
                return;
            }
            *slot = Some(client.clone());
        }
    }

    async fn session(
        &self,
        client: &ZkClient,
        registration: &BrokerRegistration,
        ready: &watch::Sender<bool>,
    ) -> Result<()> {
        let mut state = client.state();
        self.register(client, registration).await?;
        let (tx, mut events) = mpsc::channel(MAX_QUEUED_WATCH_EVENTS_COUNT);
        let mut watched = vec![
            (self.paths.brokers(), true),
            (self.paths.controller(), false),
            (self.paths.topic_configs(), true),
            (self.paths.broker_configs(), true),
            (self.paths.users(), true),
            (self.paths.clients(), true),
            (self.paths.group_configs(), true),
        ];
        if self.authorizer.is_some() {
            for pattern_type in [crate::acl::PatternType::Literal, crate::acl::PatternType::Prefixed] {
                watched.push((self.paths.acl_root(pattern_type), true));
            }
        }
        for (path, recursive) in watched {
            let mut rx = client.add_watch(&path, recursive).await?;
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(e) = rx.recv().await {
                    if tx.send(e).await.is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        self.full_sync(client).await?;
        self.session_epoch.send_modify(|n| *n += 1);
        let _ = ready.send(true);
        let mut was_connected = true;
        loop {
            tokio::select! {
                changed = state.changed() => {
                    if changed.is_err() {
                        return Err(ZkError::SessionExpired);
                    }
                    let now = *state.borrow_and_update();
                    match now {
                        SessionState::Expired => return Err(ZkError::SessionExpired),
                        SessionState::Closed => return Ok(()),
                        SessionState::Connected if !was_connected => {
                            was_connected = true;
                            // Events may have been missed while disconnected.
                            self.full_sync(client).await?;
                        }
                        SessionState::Connected => {}
                        _ => was_connected = false,
                    }
                }
                notice = events.recv() => {
                    let Some(notice) = notice else { return Err(ZkError::SessionExpired) };
                    let mut notices = vec![notice];
                    while let Ok(n) = events.try_recv() {
                        notices.push(n);
                    }
                    // A watch that fell behind dropped events: only a full sync is sure to
                    // see what they named (it re-reads everything, so the batch's events too).
                    let result = if notices.contains(&WatchNotice::Overflowed) {
                        tracing::info!("keeper watch events overflowed; reading cluster metadata again");
                        self.full_sync(client).await
                    } else {
                        let batch = notices
                            .into_iter()
                            .filter_map(|n| match n {
                                WatchNotice::Event(e) => Some(e),
                                WatchNotice::Overflowed => None,
                            })
                            .collect();
                        self.apply_events(client, batch).await
                    };
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "re-reading changed znodes failed; full sync after reconnect");
                    }
                }
            }
        }
    }

    /// Creates this broker's ephemeral registration, waiting for a previous incarnation's node
    /// (a session that has not expired yet) to go.
    async fn register(&self, client: &ZkClient, registration: &BrokerRegistration) -> Result<()> {
        let path = self.paths.broker(self.broker_id);
        let body = serde_json::to_vec(registration).expect("serializing a small struct");
        let mut warned = false;
        loop {
            match client.create(&path, &body, CreateMode::Ephemeral).await {
                Ok(_) => {
                    tracing::info!(
                        broker_id = self.broker_id,
                        session = format!("{:#x}", client.session_id()),
                        "registered in keeper"
                    );
                    return Ok(());
                }
                Err(ZkError::NodeExists) => {
                    match client.exists(&path).await? {
                        Some(stat) if stat.ephemeral_owner == client.session_id() => return Ok(()),
                        Some(_) if !warned => {
                            warned = true;
                            tracing::warn!(%path, "another session holds this broker id (a previous run?); waiting for it to expire");
                        }
                        _ => {}
                    }
                    tokio::time::sleep(Duration::from_millis(RETRY_BACKOFF_MS)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn full_sync(&self, client: &ZkClient) -> Result<()> {
        let mut view = ClusterView { synced: true, ..Default::default() };
        view.controller = read_controller(client, &self.paths).await?;
        for id in client.get_children(&self.paths.broker_ids()).await? {
            let Ok(id) = id.parse::<i32>() else { continue };
            if let Some(reg) = read_broker(client, &self.paths, id).await? {
                view.brokers.insert(id, reg);
            }
        }
        for topic in client.get_children(&self.paths.topics()).await? {
            if let Some(t) = read_topic(client, &self.paths, &topic, None).await? {
                view.topics.insert(topic, t);
            }
        }
        let entities = match client.get_children(&self.paths.broker_configs()).await {
            Ok(entities) => entities,
            Err(ZkError::NoNode) => Vec::new(),
            Err(e) => return Err(e),
        };
        for entity in entities {
            let config = read_config_at(client, &self.paths.broker_config(&entity)).await?;
            if !config.is_empty() {
                view.broker_configs.insert(entity, config);
            }
        }
        view.quotas = read_quotas(client, &self.paths).await?;
        let groups = match client.get_children(&self.paths.group_configs()).await {
            Ok(groups) => groups,
            Err(ZkError::NoNode) => Vec::new(),
            Err(e) => return Err(e),
        };
        for name in groups {
            let Some(group) = crate::sasl::unsanitize_user(&name) else { continue };
            let config = read_config_at(client, &self.paths.group_config(&group)).await?;
            if !config.is_empty() {
                view.group_configs.insert(group, config);
            }
        }
        if let Some(authorizer) = &self.authorizer {
            authorizer.replace(crate::acl::store::read_all(client, &self.paths).await?);
        }
        self.cache.update(|v| *v = view);
        Ok(())
    }

    async fn apply_events(&self, client: &ZkClient, batch: Vec<NodeEvent>) -> Result<()> {
        let mut seen = BTreeSet::new();
        let mut updates = Vec::new();
        let mut acl_changes = Vec::new();
        for event in batch {
            if event.event_type == EventType::NodeChildrenChanged as i32 || !seen.insert(event.path.clone()) {
                continue;
            }
            let Some(znode) = self.paths.classify(&event.path) else { continue };
            let update: Box<dyn FnOnce(&mut ClusterView) + Send> = match znode {
                Znode::Acl(pattern) => {
                    if self.authorizer.is_some() {
                        let entries = crate::acl::store::read_pattern(client, &self.paths, &pattern).await?;
                        acl_changes.push((pattern, entries.map(|(e, _)| e)));
                    }
                    continue;
                }
                Znode::Controller => {
                    let c = read_controller(client, &self.paths).await?;
                    Box::new(move |v| v.controller = c)
                }
                Znode::Broker(id) => {
                    let reg = read_broker(client, &self.paths, id).await?;
                    Box::new(move |v| match reg {
                        Some(r) => {
                            v.brokers.insert(id, r);
                        }
                        None => {
                            v.brokers.remove(&id);
                        }
                    })
                }
                Znode::Topic(name) => {
                    let known = self.cache.read(|v| v.topics.get(&name).map(|t| t.states.clone()));
                    let t = read_topic(client, &self.paths, &name, known).await?;
                    Box::new(move |v| match t {
                        Some(mut t) => {
                            // A state event earlier in this batch (a multi that changed the
                            // topic and a state together) may hold a newer state than the one
                            // read with the topic: keep the newest of each (of the same topic,
                            // not one deleted and created again under its name).
                            if let Some(old) = v.topics.get(&name).filter(|old| old.id == t.id) {
                                for (p, s) in &old.states {
                                    if t.assignment.contains_key(p)
                                        && t.states.get(p).is_none_or(|n| n.zk_version < s.zk_version)
                                    {
                                        t.states.insert(*p, s.clone());
                                    }
                                }
                            }
                            v.topics.insert(name, t);
                        }
                        None => {
                            v.topics.remove(&name);
                        }
                    })
                }
                Znode::PartitionState(name, p) => {
                    let s = read_state(client, &self.paths, &name, p).await?;
                    Box::new(move |v| {
                        if let Some(t) = v.topics.get_mut(&name) {
                            match s {
                                Some(s) => {
                                    t.states.insert(p, s);
                                }
                                None => {
                                    t.states.remove(&p);
                                }
                            }
                        }
                    })
                }
                Znode::BrokerConfig(entity) => {
                    let c = read_config_at(client, &self.paths.broker_config(&entity)).await?;
                    Box::new(move |v| {
                        if c.is_empty() {
                            v.broker_configs.remove(&entity);
                        } else {
                            v.broker_configs.insert(entity, c);
                        }
                    })
                }
                Znode::GroupConfig(group) => {
                    let c = read_config_at(client, &self.paths.group_config(&group)).await?;
                    Box::new(move |v| {
                        if c.is_empty() {
                            v.group_configs.remove(&group);
                        } else {
                            v.group_configs.insert(group, c);
                        }
                    })
                }
                Znode::QuotaConfig(entity) => {
                    let quotas = quota_values(&read_config_at(client, &self.paths.quota_config(&entity)).await?);
                    Box::new(move |v| {
                        if quotas.is_empty() {
                            v.quotas.remove(&entity);
                        } else {
                            v.quotas.insert(entity, quotas);
                        }
                    })
                }
                Znode::TopicConfig(name) => {
                    let c = read_config(client, &self.paths, &name).await?;
                    Box::new(move |v| {
                        if let Some(t) = v.topics.get_mut(&name) {
                            t.configs = c;
                        }
                    })
                }
            };
            updates.push(update);
        }
        if let Some(authorizer) = &self.authorizer
            && !acl_changes.is_empty()
        {
            authorizer.update(acl_changes);
        }
        if !updates.is_empty() {
            self.cache.update(|v| {
                for u in updates {
                    u(v);
                }
            });
        }
        Ok(())
    }

    /// Closes the session, so the broker's registration goes at once (a clean shutdown).
    /// The SCRAM credential `user` has for `mechanism`, read from keeper now (so a change or a
    /// removal applies to the next authentication); `None` when there is none or it does not
    /// parse.
    pub async fn scram_credential(
        &self,
        user: &str,
        mechanism: crate::sasl::scram::ScramMechanism,
    ) -> Result<Option<crate::sasl::scram::ScramCredential>> {
        let path = self.paths.user_config(user);
        let config = self
            .retrying(|client| {
                let path = path.clone();
                async move { read_config_at(&client, &path).await }
            })
            .await?;
        Ok(config.get(mechanism.name()).and_then(|text| crate::sasl::scram::ScramCredential::from_kafka_string(text)))
    }

    pub async fn close(&self) {
        let client = {
            let mut slot = self.client.write();
            self.closing.store(true, Ordering::Release);
            slot.take()
        };
        if let Some(c) = client
            && c.close().await.is_ok()
            && let Some(path) = &self.session_file
        {
            // Nothing left to close next time.
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The credentials a previous run kept in `path`: `Ok(None)` when there is no file.
fn read_session_file(path: &Path) -> std::result::Result<Option<SessionCredentials>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.split_once('=').filter(|(k, _)| k.trim() == key).map(|(_, v)| v.trim()))
            .ok_or_else(|| format!("no {key}"))
    };
    if field("version")? != "1" {
        return Err("unknown version".into());
    }
    let session_id = field("session.id")?.parse::<i64>().map_err(|e| format!("session.id: {e}"))?;
    let passwd =
        base64::engine::general_purpose::STANDARD.decode(field("password")?).map_err(|e| format!("password: {e}"))?;
    Ok(Some(SessionCredentials { session_id, passwd: Bytes::from(passwd) }))
}

/// Creates a persistent node if it is missing.
pub async fn ensure_node(client: &ZkClient, path: &str, data: &[u8]) -> Result<()> {
    match client.create(path, data, CreateMode::Persistent).await {
        Ok(_) | Err(ZkError::NodeExists) => Ok(()),
        Err(e) => Err(e),
    }
}

async fn get_optional(client: &ZkClient, path: &str) -> Result<Option<(Bytes, i32)>> {
    match client.get_data(path).await {
        Ok((data, stat)) => Ok(Some((data, stat.version))),
        Err(ZkError::NoNode) => Ok(None),
        Err(e) => Err(e),
    }
}

async fn read_controller(client: &ZkClient, paths: &Paths) -> Result<Option<i32>> {
    Ok(get_optional(client, &paths.controller())
        .await?
        .and_then(|(d, _)| serde_json::from_slice::<ControllerZnode>(&d).ok())
        .map(|c| c.brokerid))
}

async fn read_broker(client: &ZkClient, paths: &Paths, id: i32) -> Result<Option<BrokerRegistration>> {
    Ok(get_optional(client, &paths.broker(id)).await?.and_then(|(d, _)| {
        serde_json::from_slice(&d).map_err(|e| tracing::warn!(id, error = %e, "unreadable broker registration")).ok()
    }))
}

async fn read_config(
    client: &ZkClient,
    paths: &Paths,
    topic: &str,
) -> Result<std::collections::BTreeMap<String, String>> {
    read_config_at(client, &paths.topic_config(topic)).await
}

/// A config znode (`{"version":1,"config":{...}}`); empty when missing or unreadable.
/// The quota keys of a config znode's entries (a user's SCRAM credentials share its znode).
fn quota_values(config: &std::collections::BTreeMap<String, String>) -> std::collections::BTreeMap<String, f64> {
    config
        .iter()
        .filter(|(k, _)| crate::quota::CLIENT_QUOTA_KEYS.contains(&k.as_str()))
        .filter_map(|(k, v)| Some((k.clone(), v.trim().parse::<f64>().ok()?)))
        .collect()
}

/// Every quota under `/config/users` and `/config/clients`.
async fn read_quotas(client: &ZkClient, paths: &Paths) -> Result<crate::quota::QuotaTable> {
    let children = |path: String| async move {
        match client.get_children(&path).await {
            Ok(names) => Ok(names),
            Err(ZkError::NoNode) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    };
    let mut table = crate::quota::QuotaTable::new();
    let mut entities = Vec::new();
    for user in children(paths.users()).await? {
        let Some(entity) = super::znodes::quota_entity(Some(&user), None) else { continue };
        entities.push(entity);
        for client_id in children(format!("{}/{user}/clients", paths.users())).await? {
            entities.extend(super::znodes::quota_entity(Some(&user), Some(&client_id)));
        }
    }
    for client_id in children(paths.clients()).await? {
        entities.extend(super::znodes::quota_entity(None, Some(&client_id)));
    }
    for entity in entities {
        let quotas = quota_values(&read_config_at(client, &paths.quota_config(&entity)).await?);
        if !quotas.is_empty() {
            table.insert(entity, quotas);
        }
    }
    Ok(table)
}

async fn read_config_at(client: &ZkClient, path: &str) -> Result<std::collections::BTreeMap<String, String>> {
    Ok(get_optional(client, path)
        .await?
        .and_then(|(d, _)| serde_json::from_slice::<TopicConfigZnode>(&d).ok())
        .map(|c| c.config)
        .unwrap_or_default())
}

async fn read_state(client: &ZkClient, paths: &Paths, topic: &str, p: i32) -> Result<Option<VersionedState>> {
    Ok(get_optional(client, &paths.partition_state(topic, p)).await?.and_then(|(d, version)| {
        let state: PartitionState = serde_json::from_slice(&d).ok()?;
        Some(VersionedState { state, zk_version: version })
    }))
}

/// Reads a topic: assignment, config, and the state of each partition (reusing `known` states,
/// which their own events keep current).
async fn read_topic(
    client: &ZkClient,
    paths: &Paths,
    topic: &str,
    known: Option<std::collections::BTreeMap<i32, VersionedState>>,
) -> Result<Option<TopicView>> {
    let Some((data, zk_version)) = get_optional(client, &paths.topic(topic)).await? else { return Ok(None) };
    let Ok(assignment) = serde_json::from_slice::<TopicAssignment>(&data) else {
        tracing::warn!(%topic, "unreadable topic assignment; ignoring the topic");
        return Ok(None);
    };
    let parse = |m: &std::collections::BTreeMap<String, Vec<i32>>| {
        m.iter().filter_map(|(p, r)| Some((p.parse::<i32>().ok()?, r.clone()))).collect()
    };
    let mut view = TopicView {
        id: assignment.topic_id.as_deref().and_then(decode_topic_id).unwrap_or_default(),
        assignment: parse(&assignment.partitions),
        adding: parse(&assignment.adding_replicas),
        removing: parse(&assignment.removing_replicas),
        zk_version,
        configs: read_config(client, paths, topic).await?,
        states: Default::default(),
    };
    let known = known.unwrap_or_default();
    for &p in view.assignment.keys() {
        let state = match known.get(&p) {
            Some(s) => Some(s.clone()),
            None => read_state(client, paths, topic, p).await?,
        };
        if let Some(s) = state {
            view.states.insert(p, s);
        }
    }
    Ok(Some(view))
}
