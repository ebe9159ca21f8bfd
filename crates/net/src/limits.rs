//! Admission at accept, before any byte is read: connection limits (the broker, each tenant,
//! each source address), the connect rate per source address, and the handshake slots of a
//! listener (capped per source address, the oldest evicted when the listener is full).
//!
//! A refused socket costs one accept and one story: no TLS handshake, no buffer, no task that
//! waits. Source addresses are counted as they arrive; an IPv6 client is counted by its /64,
//! since one subscriber usually holds a whole /64 and could otherwise change address per socket.
//!
//! This module decides and counts; it does not read sockets or record stories (the driver
//! does, with the [`Refusal`] turned into a cause).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lantern_diag::Cause;
use tokio::sync::Notify;

/// Connection limits shared by every listener of a server. "Unlimited" is `None`.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ConnLimits {
    /// Open connections in the whole broker (`[limits] max_connections`).
    pub max_connections: Option<NonZeroUsize>,
    /// Open connections per tenant (`[[tenant]] max_connections`), by tenant name.
    pub max_connections_per_tenant: HashMap<Arc<str>, NonZeroUsize>,
    /// Open connections per source address (`[limits] max_connections_per_ip`).
    pub max_connections_per_ip: Option<NonZeroUsize>,
    /// New connections per source address (`[limits] max_connect_rate_per_ip` and
    /// `connect_burst_per_ip`).
    pub connect_rate_per_ip: Option<ConnectRate>,
}

/// A token bucket: `per_second` new connections sustained, `burst` at once after a quiet
/// period.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct ConnectRate {
    /// Tokens added per second.
    pub per_second: NonZeroU32,
    /// Bucket size.
    pub burst: NonZeroU32,
}

impl Default for ConnLimits {
    /// The documented defaults (README, "Limits"): 100 000 connections, 10 000 per address, 200
    /// new connections per second per address with bursts of 2 000. A carrier NAT shares one
    /// public address among many devices, so the per-address limits are set for a fleet, not
    /// for one device: 2 000 devices behind one address reconnect at once after an outage, the
    /// rest at 200 per second.
    fn default() -> Self {
        Self {
            max_connections: NonZeroUsize::new(100_000),
            max_connections_per_tenant: HashMap::new(),
            max_connections_per_ip: NonZeroUsize::new(10_000),
            connect_rate_per_ip: Some(ConnectRate {
                per_second: NonZeroU32::new(200).unwrap_or(NonZeroU32::MIN),
                burst: NonZeroU32::new(2_000).unwrap_or(NonZeroU32::MIN),
            }),
        }
    }
}

/// The key of the per-address handshake limit (a listener key, not a `[limits]` one).
const HANDSHAKES_PER_IP: &str = "max_handshakes_per_ip";

/// Why a socket was refused at accept.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub(crate) enum Refusal {
    /// A count reached its limit.
    Limit {
        /// The configuration key.
        key: &'static str,
        /// Its value.
        max: usize,
        /// Whose connections it counts.
        scope: String,
    },
    /// The address's token bucket is empty.
    Rate {
        /// The address (or /64).
        address: String,
        /// The configured rate.
        rate: ConnectRate,
    },
}

impl Refusal {
    /// The story's cause.
    pub(crate) fn cause(&self) -> Cause {
        match self {
            Self::Limit { key, max, scope } => Cause::ConnectionLimit {
                limit: (*key).to_owned(),
                max: *max as u64,
                scope: scope.clone(),
                counts: if *key == HANDSHAKES_PER_IP {
                    "handshakes in progress"
                } else {
                    "connections open"
                }
                .to_owned(),
            },
            Self::Rate { address, rate } => Cause::ConnectRate {
                address: address.clone(),
                per_second: rate.per_second.get(),
                burst: rate.burst.get(),
            },
        }
    }
}

/// The unit a source is counted by: the address, or an IPv6 address's /64.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub(crate) struct Source(IpAddr);

impl Source {
    pub(crate) fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Self(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    Self(IpAddr::V6(prefix.into()))
                }
            },
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// The server-wide counts behind [`ConnLimits`].
pub(crate) struct Admission {
    limits: ConnLimits,
    state: Mutex<AdmissionState>,
}

#[derive(Default)]
struct AdmissionState {
    total: usize,
    tenants: HashMap<Arc<str>, usize>,
    sources: HashMap<Source, SourceEntry>,
    /// `sources.len()` after the last sweep; the next sweep runs when it has doubled.
    swept_at: usize,
}

struct SourceEntry {
    open: usize,
    tokens: f64,
    refilled: Instant,
}

/// One admitted connection; dropping it gives its place back.
pub(crate) struct ConnSlot {
    admission: Arc<Admission>,
    source: Source,
}

/// One connection counted against its tenant; dropping it gives the place back.
pub(crate) struct TenantSlot {
    admission: Arc<Admission>,
    tenant: Arc<str>,
}

impl Admission {
    pub(crate) fn new(limits: ConnLimits) -> Self {
        Self {
            limits,
            state: Mutex::new(AdmissionState::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, AdmissionState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a new socket from `ip` at `now`, or says which limit refuses it. A refused
    /// socket still takes a token: a client that keeps hammering stays refused.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr, now: Instant) -> Result<ConnSlot, Refusal> {
        let source = Source::of(ip);
        let limits = &self.limits;
        let mut state = self.lock();
        state.sweep(now, limits.connect_rate_per_ip);
        let entry = state.sources.entry(source).or_insert_with(|| SourceEntry {
            open: 0,
            tokens: limits
                .connect_rate_per_ip
                .map_or(0.0, |r| f64::from(r.burst.get())),
            refilled: now,
        });
        if let Some(rate) = limits.connect_rate_per_ip {
            entry.refill(now, rate);
            if entry.tokens < 1.0 {
                return Err(Refusal::Rate {
                    address: source.to_string(),
                    rate,
                });
            }
            entry.tokens -= 1.0;
        }
        if let Some(max) = limits.max_connections_per_ip {
            if entry.open >= max.get() {
                return Err(Refusal::Limit {
                    key: "max_connections_per_ip",
                    max: max.get(),
                    scope: format!("address {source}"),
                });
            }
        }
        if let Some(max) = limits.max_connections {
            if state.total >= max.get() {
                return Err(Refusal::Limit {
                    key: "max_connections",
                    max: max.get(),
                    scope: "the broker".into(),
                });
            }
        }
        if let Some(entry) = state.sources.get_mut(&source) {
            entry.open += 1;
        }
        state.total += 1;
        Ok(ConnSlot {
            admission: self.clone(),
            source,
        })
    }

    /// Counts a connection against its tenant, once the tenant is known (at accept for plain
    /// listeners, from the SNI for TLS).
    pub(crate) fn admit_tenant(self: &Arc<Self>, tenant: &Arc<str>) -> Result<TenantSlot, Refusal> {
        let mut state = self.lock();
        let open = state.tenants.entry(tenant.clone()).or_insert(0);
        if let Some(max) = self.limits.max_connections_per_tenant.get(tenant) {
            if *open >= max.get() {
                return Err(Refusal::Limit {
                    key: "max_connections",
                    max: max.get(),
                    scope: format!("tenant {tenant:?}"),
                });
            }
        }
        *open += 1;
        Ok(TenantSlot {
            admission: self.clone(),
            tenant: tenant.clone(),
        })
    }

    /// Open connections in the broker (for tests and the admin API).
    #[cfg(test)]
    fn open(&self) -> usize {
        self.lock().total
    }
}

impl AdmissionState {
    /// Forgets sources with no connection whose bucket is full again, so the map holds only
    /// sources that matter (amortised: runs when the map has doubled since the last sweep).
    fn sweep(&mut self, now: Instant, rate: Option<ConnectRate>) {
        if self.sources.len() < 1024 || self.sources.len() < 2 * self.swept_at {
            return;
        }
        self.sources.retain(|_, e| {
            if let Some(rate) = rate {
                e.refill(now, rate);
            }
            e.open > 0 || rate.is_some_and(|r| e.tokens < f64::from(r.burst.get()))
        });
        self.swept_at = self.sources.len();
    }
}

impl SourceEntry {
    fn refill(&mut self, now: Instant, rate: ConnectRate) {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * f64::from(rate.per_second.get()))
            .min(f64::from(rate.burst.get()));
        self.refilled = now;
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut state = self.admission.lock();
        state.total = state.total.saturating_sub(1);
        if let Some(entry) = state.sources.get_mut(&self.source) {
            entry.open = entry.open.saturating_sub(1);
        }
    }
}

impl Drop for TenantSlot {
    fn drop(&mut self) {
        let mut state = self.admission.lock();
        if let Some(open) = state.tenants.get_mut(&self.tenant) {
            *open = open.saturating_sub(1);
        }
    }
}

/// A listener's handshake slots: at most `max` TLS handshakes or WebSocket upgrades in
/// progress, at most `per_source` of them from one source. When the listener is full, the
/// oldest handshake in progress is evicted so the new one starts at once: a legitimate
/// handshake takes milliseconds, so the oldest is almost always a silent or stalled socket.
pub(crate) struct Handshakes {
    max: usize,
    per_source: Option<NonZeroUsize>,
    state: Mutex<HandshakeState>,
}

#[derive(Default)]
struct HandshakeState {
    next: u64,
    /// In progress, oldest first (keys grow).
    active: BTreeMap<u64, Active>,
    per_source: HashMap<Source, usize>,
}

struct Active {
    source: Source,
    evict: Arc<Eviction>,
}

/// Set once when a handshake is evicted; its task wakes and closes the socket.
#[derive(Default)]
struct Eviction {
    evicted: AtomicBool,
    notify: Notify,
}

/// A handshake slot. Dropping it (handshake finished or failed) frees the slot.
pub(crate) struct HandshakeSlot {
    handshakes: Arc<Handshakes>,
    key: u64,
    evict: Arc<Eviction>,
    started: Instant,
}

/// Why a bounded handshake step did not complete.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Interrupted {
    /// Its deadline passed.
    TimedOut,
    /// The slot was given to a newer connection.
    Evicted,
}

impl Handshakes {
    pub(crate) fn new(max: usize, per_source: Option<NonZeroUsize>) -> Self {
        Self {
            max: max.max(1),
            per_source,
            state: Mutex::new(HandshakeState::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HandshakeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot for a handshake from `ip`, evicting the oldest in progress when the listener is
    /// full; refused when `ip`'s source already has `max_handshakes_per_ip` in progress.
    pub(crate) fn acquire(self: &Arc<Self>, ip: IpAddr) -> Result<HandshakeSlot, Refusal> {
        let source = Source::of(ip);
        let mut state = self.lock();
        let from_source = state.per_source.get(&source).copied().unwrap_or(0);
        if let Some(max) = self.per_source {
            if from_source >= max.get() {
                return Err(Refusal::Limit {
                    key: HANDSHAKES_PER_IP,
                    max: max.get(),
                    scope: format!("address {source}"),
                });
            }
        }
        while state.active.len() >= self.max {
            let Some((_, oldest)) = state.active.pop_first() else {
                break;
            };
            state.release_source(oldest.source);
            oldest.evict.evicted.store(true, Ordering::Release);
            oldest.evict.notify.notify_one();
        }
        let key = state.next;
        state.next += 1;
        let evict = Arc::new(Eviction::default());
        state.active.insert(
            key,
            Active {
                source,
                evict: evict.clone(),
            },
        );
        *state.per_source.entry(source).or_insert(0) += 1;
        Ok(HandshakeSlot {
            handshakes: self.clone(),
            key,
            evict,
            started: Instant::now(),
        })
    }

    /// Handshakes in progress.
    #[cfg(test)]
    fn in_progress(&self) -> usize {
        self.lock().active.len()
    }
}

impl HandshakeState {
    fn release_source(&mut self, source: Source) {
        if let Some(n) = self.per_source.get_mut(&source) {
            *n -= 1;
            if *n == 0 {
                self.per_source.remove(&source);
            }
        }
    }
}

impl HandshakeSlot {
    /// Runs one handshake step until it completes, `deadline` passes or the slot is evicted.
    pub(crate) async fn within<F: std::future::Future>(
        &self,
        deadline: Instant,
        step: F,
    ) -> Result<F::Output, Interrupted> {
        if self.is_evicted() {
            return Err(Interrupted::Evicted);
        }
        tokio::select! {
            out = step => Ok(out),
            () = self.evict.notify.notified() => Err(Interrupted::Evicted),
            () = tokio::time::sleep_until(deadline.into()) => Err(Interrupted::TimedOut),
        }
    }

    /// Whether the slot was given to a newer connection.
    pub(crate) fn is_evicted(&self) -> bool {
        self.evict.evicted.load(Ordering::Acquire)
    }

    /// How long the slot has been held.
    pub(crate) fn held(&self) -> Duration {
        self.started.elapsed()
    }

    /// When the slot was taken (at accept).
    pub(crate) fn started(&self) -> Instant {
        self.started
    }

    /// The cause of an evicted handshake that had received `bytes`.
    pub(crate) fn evicted_cause(&self, bytes: u64) -> Cause {
        Cause::HandshakeEvicted {
            held_s: self.held().as_secs_f64(),
            max_handshakes: self.handshakes.max as u64,
            bytes,
        }
    }
}

impl Drop for HandshakeSlot {
    fn drop(&mut self) {
        let mut state = self.handshakes.lock();
        if let Some(active) = state.active.remove(&self.key) {
            state.release_source(active.source);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn limits(per_ip: usize, rate: Option<(u32, u32)>) -> ConnLimits {
        ConnLimits {
            max_connections: NonZeroUsize::new(5),
            max_connections_per_tenant: HashMap::from([(
                Arc::from("acme"),
                NonZeroUsize::new(1).unwrap(),
            )]),
            max_connections_per_ip: NonZeroUsize::new(per_ip),
            connect_rate_per_ip: rate.map(|(per_second, burst)| ConnectRate {
                per_second: NonZeroU32::new(per_second).unwrap(),
                burst: NonZeroU32::new(burst).unwrap(),
            }),
        }
    }

    #[test]
    fn per_ip_and_global_limits_refuse_and_release() {
        let a = Arc::new(Admission::new(limits(2, None)));
        let now = Instant::now();
        let s1 = a.admit(ip("10.0.0.1"), now).unwrap();
        let _s2 = a.admit(ip("10.0.0.1"), now).unwrap();
        let refused = a.admit(ip("10.0.0.1"), now).err().unwrap();
        assert_eq!(
            refused.cause(),
            Cause::ConnectionLimit {
                limit: "max_connections_per_ip".into(),
                max: 2,
                scope: "address 10.0.0.1".into(),
                counts: "connections open".into()
            }
        );
        drop(s1);
        let _s3 = a.admit(ip("10.0.0.1"), now).unwrap();
        let _others: Vec<_> = (2..5)
            .map(|i| a.admit(ip(&format!("10.0.0.{i}")), now).unwrap())
            .collect();
        assert_eq!(a.open(), 5);
        let refused = a.admit(ip("10.0.0.9"), now).err().unwrap();
        assert!(matches!(
            refused,
            Refusal::Limit {
                key: "max_connections",
                max: 5,
                ..
            }
        ));
    }

    #[test]
    fn ipv6_sources_count_by_slash_64() {
        let a = Arc::new(Admission::new(limits(1, None)));
        let now = Instant::now();
        let _s = a.admit(ip("2001:db8:1:2::1"), now).unwrap();
        let refused = a.admit(ip("2001:db8:1:2:ffff::9"), now).err().unwrap();
        assert_eq!(
            refused,
            Refusal::Limit {
                key: "max_connections_per_ip",
                max: 1,
                scope: "address 2001:db8:1:2::/64".into()
            }
        );
        assert!(a.admit(ip("2001:db8:1:3::1"), now).is_ok());
        assert_eq!(
            Source::of(ip("::ffff:10.1.2.3")),
            Source::of(ip("10.1.2.3"))
        );
    }

    #[test]
    fn token_bucket_allows_the_burst_then_the_rate() {
        let a = Arc::new(Admission::new(ConnLimits {
            max_connections: None,
            ..limits(1000, Some((10, 3)))
        }));
        let t0 = Instant::now();
        let mut kept = Vec::new();
        for _ in 0..3 {
            kept.push(a.admit(ip("10.0.0.1"), t0).unwrap());
        }
        let refused = a.admit(ip("10.0.0.1"), t0).err().unwrap();
        assert_eq!(
            refused.cause(),
            Cause::ConnectRate {
                address: "10.0.0.1".into(),
                per_second: 10,
                burst: 3
            }
        );
        // Another address has its own bucket.
        assert!(a.admit(ip("10.0.0.2"), t0).is_ok());
        // 10 per second: one token per 100 ms.
        let t1 = t0 + Duration::from_millis(150);
        kept.push(a.admit(ip("10.0.0.1"), t1).unwrap());
        assert!(a.admit(ip("10.0.0.1"), t1).is_err());
        // A long pause refills up to the burst, not beyond.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            kept.push(a.admit(ip("10.0.0.1"), t2).unwrap());
        }
        assert!(a.admit(ip("10.0.0.1"), t2).is_err());
    }

    #[test]
    fn tenant_limit_counts_per_tenant() {
        let a = Arc::new(Admission::new(limits(10, None)));
        let acme: Arc<str> = "acme".into();
        let other: Arc<str> = "globex".into();
        let slot = a.admit_tenant(&acme).unwrap();
        assert_eq!(
            a.admit_tenant(&acme).err().unwrap().cause(),
            Cause::ConnectionLimit {
                limit: "max_connections".into(),
                max: 1,
                scope: "tenant \"acme\"".into(),
                counts: "connections open".into()
            }
        );
        assert!(a.admit_tenant(&other).is_ok());
        drop(slot);
        assert!(a.admit_tenant(&acme).is_ok());
    }

    #[test]
    fn sweep_forgets_idle_sources_with_full_buckets() {
        let a = Arc::new(Admission::new(ConnLimits {
            max_connections: None,
            ..limits(10, Some((1000, 1)))
        }));
        // One new address per millisecond; each bucket is full again 1 ms later.
        let t0 = Instant::now();
        for i in 0..3000u32 {
            let addr = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000u32 + i));
            let at = t0 + Duration::from_millis(u64::from(i));
            drop(a.admit(addr, at).unwrap());
        }
        let left = a.lock().sources.len();
        assert!(left <= 1024, "{left} sources remembered");
    }

    #[tokio::test]
    async fn full_listener_evicts_the_oldest_handshake() {
        let h = Arc::new(Handshakes::new(2, NonZeroUsize::new(2)));
        let first = h.acquire(ip("10.0.0.1")).unwrap();
        let second = h.acquire(ip("10.0.0.2")).unwrap();
        let third = h.acquire(ip("10.0.0.3")).unwrap();
        assert!(first.is_evicted());
        assert!(!second.is_evicted());
        assert_eq!(h.in_progress(), 2);
        let far = Instant::now() + Duration::from_secs(60);
        let out = first.within(far, std::future::pending::<()>()).await;
        assert_eq!(out, Err(Interrupted::Evicted));
        // The evicted slot's drop does not free anyone else's.
        drop(first);
        assert_eq!(h.in_progress(), 2);
        drop(third);
        assert_eq!(h.in_progress(), 1);
        assert_eq!(second.within(far, async { 7 }).await, Ok(7));
    }

    #[tokio::test]
    async fn eviction_wakes_a_waiting_handshake() {
        let h = Arc::new(Handshakes::new(1, None));
        let first = h.acquire(ip("10.0.0.1")).unwrap();
        let far = Instant::now() + Duration::from_secs(60);
        let waiting =
            tokio::spawn(async move { first.within(far, std::future::pending::<()>()).await });
        tokio::task::yield_now().await;
        let _second = h.acquire(ip("10.0.0.2")).unwrap();
        let out = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(out, Err(Interrupted::Evicted));
    }

    #[test]
    fn handshakes_per_source_are_capped() {
        let h = Arc::new(Handshakes::new(100, NonZeroUsize::new(2)));
        let _a = h.acquire(ip("10.0.0.1")).unwrap();
        let b = h.acquire(ip("10.0.0.1")).unwrap();
        assert_eq!(
            h.acquire(ip("10.0.0.1")).err().unwrap().cause(),
            Cause::ConnectionLimit {
                limit: "max_handshakes_per_ip".into(),
                max: 2,
                scope: "address 10.0.0.1".into(),
                counts: "handshakes in progress".into()
            }
        );
        assert!(h.acquire(ip("10.0.0.2")).is_ok());
        drop(b);
        assert!(h.acquire(ip("10.0.0.1")).is_ok());
    }

    #[tokio::test]
    async fn a_step_past_its_deadline_times_out() {
        let h = Arc::new(Handshakes::new(1, None));
        let slot = h.acquire(ip("10.0.0.1")).unwrap();
        let soon = Instant::now() + Duration::from_millis(20);
        let out = slot.within(soon, std::future::pending::<()>()).await;
        assert_eq!(out, Err(Interrupted::TimedOut));
    }
}
