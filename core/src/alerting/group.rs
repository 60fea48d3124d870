//! Grouping and dedup: which findings are in which (route, sink, group), what
//! each group's receiver was last told, and when a group is due to be told
//! again. Pure: events and the time in, notifications out.
//!
//! A group notifies for exactly these reasons: `first` (its first message),
//! `new` (a finding it was not told about), `escalated` (a finding's severity
//! rose above what it was told), `resolved` (a finding it was told about
//! stopped firing, when the route sends resolved), `repeat` (still firing
//! after `repeat_interval`). A severity that drops lowers the baseline
//! silently, so rising again notifies.

use super::Millis;
use super::route::RouteTree;
use super::silence::{Silence, silenced_by};
use crate::finding::{Severity, StoredFinding};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    First,
    New,
    Escalated,
    Resolved,
    Repeat,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::First => "first",
            Reason::New => "new",
            Reason::Escalated => "escalated",
            Reason::Resolved => "resolved",
            Reason::Repeat => "repeat",
        }
    }
}

/// One message to one sink about one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Unique per message; a receiver can dedup on it.
    pub id: String,
    /// The same for every message about this group (PagerDuty's dedup_key).
    pub group_id: String,
    pub sink: String,
    pub route: String,
    pub group_labels: BTreeMap<String, String>,
    pub reason: Reason,
    /// `firing` while any finding in the group fires, else `resolved`.
    pub status: String,
    pub at: Millis,
    pub firing: Vec<Arc<StoredFinding>>,
    pub resolved: Vec<Arc<StoredFinding>>,
    /// Fingerprints of the firing findings this message is about: new to the
    /// group or escalated (all of them for `first`; none for `repeat`).
    #[serde(default)]
    pub changed: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Shared between the groups the finding is in.
    pub finding: Arc<StoredFinding>,
    pub firing: bool,
    /// The severity the receiver was last told while firing; `None` = never told.
    pub told: Option<Severity>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub key: String,
    pub route: String,
    pub sink: String,
    pub labels: BTreeMap<String, String>,
    /// By fingerprint. Stored apart from the rest of the group (its header,
    /// [`Group::header`]), a row per member, so a round writes only the
    /// members it changed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub members: BTreeMap<String, Member>,
    pub created_at: Millis,
    pub last_notified: Option<Millis>,
    /// When the pending change may be sent; `None` = nothing pending.
    pub due: Option<Millis>,
    pub sent: u64,
    /// The group's id as receivers know it (PagerDuty's `dedup_key`), fixed
    /// when the group is made: a group stored under an older key keeps the
    /// id it had. `None` (older stores) = derived from `key`.
    #[serde(default)]
    pub id: Option<String>,
}

impl Group {
    /// The group without its members (what the store keeps in one row).
    pub fn header(&self) -> Group {
        Group {
            key: self.key.clone(),
            route: self.route.clone(),
            sink: self.sink.clone(),
            labels: self.labels.clone(),
            members: BTreeMap::new(),
            created_at: self.created_at,
            last_notified: self.last_notified,
            due: self.due,
            sent: self.sent,
            id: self.id.clone(),
        }
    }

    fn group_id(&self) -> String {
        self.id.clone().unwrap_or_else(|| id_of(&self.key))
    }

    /// Its key as today's rule makes it (sink and `group_by` values).
    fn current_key(&self) -> String {
        super::route::group_key(&self.sink, self.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }
}

fn id_of(key: &str) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..12])
}

/// What a pass reported about one finding: firing (opened, still open,
/// severity changed) or not (resolved).
#[derive(Debug, Clone)]
pub struct Input<'a> {
    pub finding: &'a StoredFinding,
    pub firing: bool,
}

/// Groups as the store keeps them: `headers` ([`Group::header`]) and
/// `members` rows (group key, fingerprint, member), put back together.
/// A member of no header is dropped (its group is gone).
pub fn assemble(headers: Vec<Group>, members: Vec<(String, String, Member)>) -> Vec<Group> {
    let mut by_key: BTreeMap<String, Group> = headers.into_iter().map(|g| (g.key.clone(), g)).collect();
    for (key, fp, m) in members {
        if let Some(g) = by_key.get_mut(&key) {
            g.members.insert(fp, m);
        }
    }
    by_key.into_values().collect()
}

/// What changed in the groups since they were last persisted
/// ([`Groups::take_changed`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changed {
    /// Groups whose header changed, or that are gone (with their members).
    pub groups: BTreeSet<String>,
    /// Members that joined, changed or left: (group key, fingerprint).
    pub members: BTreeSet<(String, String)>,
}

/// Every group, with an index from fingerprint to the groups holding it.
#[derive(Debug, Clone, Default)]
pub struct Groups {
    groups: BTreeMap<String, Group>,
    index: HashMap<String, BTreeSet<String>>,
    /// What changed since the last `take_changed` (to persist).
    changed: Changed,
    /// The active silences `apply_silences` last applied (ids), to skip
    /// re-checking every member when they have not changed.
    applied_silences: Option<Vec<String>>,
}

fn ms(d: std::time::Duration) -> Millis {
    d.as_millis().min(i64::MAX as u128) as Millis
}

impl Groups {
    /// The groups as stored. A group stored under a key of an older rule
    /// (keys once held the route) moves to its current key, keeping its id
    /// and what its receiver was told; the move is persisted with the next
    /// batch (`take_changed`).
    pub fn from_groups(groups: Vec<Group>) -> Groups {
        let mut g = Groups::default();
        for mut group in groups {
            let key = group.current_key();
            if key != group.key {
                g.changed.groups.insert(group.key.clone());
                g.changed.groups.insert(key.clone());
                group.id.get_or_insert_with(|| id_of(&group.key));
                group.key = key.clone();
                // every member moves to the new key's rows
                g.changed.members.extend(group.members.keys().map(|fp| (key.clone(), fp.clone())));
            }
            if let Some(existing) = g.groups.get_mut(&key) {
                // two old groups (two routes to one sink) are one now
                for (fp, m) in std::mem::take(&mut group.members) {
                    g.changed.members.insert((key.clone(), fp.clone()));
                    existing.members.entry(fp).or_insert(m);
                }
                continue;
            }
            g.groups.insert(key, group);
        }
        for group in g.groups.values() {
            for fp in group.members.keys() {
                g.index.entry(fp.clone()).or_default().insert(group.key.clone());
            }
        }
        g
    }

    /// Align the groups with `tree` for the findings open now (the
    /// configuration changed, or the process starts): each finding joins the
    /// groups of sinks it now routes to that it was not in (their receivers
    /// were told nothing yet, so they hear it once), and leaves, without a
    /// word, groups of sinks that no route leads it to any more; a group
    /// follows the route that now leads to it (its timing). Groups no route
    /// leads to any more, with nothing left to say, are dropped. Receivers
    /// already told keep their state: nothing is re-sent.
    pub fn reconcile(&mut self, tree: &RouteTree, open: &[StoredFinding], silences: &[Silence], now: Millis) {
        for f in open {
            let labels = f.routing_labels();
            if silenced_by(silences, &labels, now).is_some() {
                continue;
            }
            let targets = tree.targets(&labels);
            let stale: Vec<String> = self
                .index
                .get(&f.fingerprint)
                .map(|keys| keys.iter().filter(|k| !targets.iter().any(|t| &t.0 == *k)).cloned().collect())
                .unwrap_or_default();
            for key in stale {
                self.remove_member(&key, &f.fingerprint);
            }
            let shared = Arc::new(f.clone());
            for (key, route, sink) in targets {
                let g = self.join(&key, route, sink, &labels, now);
                if g.members.contains_key(&f.fingerprint) {
                    continue;
                }
                g.members.insert(f.fingerprint.clone(), Member { finding: shared.clone(), firing: true, told: None });
                self.index.entry(f.fingerprint.clone()).or_default().insert(key.clone());
                self.changed.members.insert((key.clone(), f.fingerprint.clone()));
                self.schedule(tree, &key, now);
            }
        }
        // groups whose route is gone: follow a route that still sends to the
        // sink with the same grouping, else go
        let lost: Vec<String> =
            self.groups.values().filter(|g| tree.route(&g.route).is_none()).map(|g| g.key.clone()).collect();
        for key in lost {
            let g = &self.groups[&key];
            let by: BTreeSet<&String> = g.labels.keys().collect();
            let heir = tree
                .routes
                .iter()
                .chain([&tree.default])
                .find(|r| r.sinks.contains(&g.sink) && r.group_by.iter().collect::<BTreeSet<_>>() == by)
                .map(|r| r.id.clone());
            match heir {
                Some(id) => {
                    if let Some(g) = self.groups.get_mut(&key) {
                        g.route = id;
                    }
                    self.changed.groups.insert(key);
                }
                None => self.remove_group(&key),
            }
        }
    }

    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    /// What changed or went since the last call.
    pub fn take_changed(&mut self) -> Changed {
        std::mem::take(&mut self.changed)
    }

    pub fn get(&self, key: &str) -> Option<&Group> {
        self.groups.get(key)
    }

    /// The group `key` (made when new), following `route`, the route that
    /// leads to it now (its timing).
    fn join(
        &mut self,
        key: &str,
        route: &super::Route,
        sink: &str,
        labels: &BTreeMap<String, String>,
        now: Millis,
    ) -> &mut Group {
        let g = self.groups.entry(key.to_string()).or_insert_with(|| Group {
            key: key.to_string(),
            route: route.id.clone(),
            sink: sink.to_string(),
            labels: route.group_labels(labels),
            members: BTreeMap::new(),
            created_at: now,
            last_notified: None,
            due: None,
            sent: 0,
            id: Some(id_of(key)),
        });
        if g.route != route.id {
            g.route = route.id.clone();
            self.changed.groups.insert(key.to_string());
        }
        g
    }

    fn remove_group(&mut self, key: &str) {
        if let Some(g) = self.groups.remove(key) {
            for fp in g.members.keys() {
                self.unindex(fp, key);
                self.changed.members.insert((key.to_string(), fp.clone()));
            }
            self.changed.groups.insert(key.to_string());
        }
    }

    /// Take a finding out of a group (and the group away once it is empty).
    fn remove_member(&mut self, key: &str, fp: &str) {
        let Some(g) = self.groups.get_mut(key) else { return };
        g.members.remove(fp);
        let empty = g.members.is_empty();
        self.unindex(fp, key);
        self.changed.members.insert((key.to_string(), fp.to_string()));
        if empty {
            self.remove_group(key);
        }
    }

    fn unindex(&mut self, fp: &str, key: &str) {
        if let Some(keys) = self.index.get_mut(fp) {
            keys.remove(key);
            if keys.is_empty() {
                self.index.remove(fp);
            }
        }
    }

    /// Mark a group as having something to say, at the earliest its timing allows.
    fn schedule(&mut self, tree: &RouteTree, key: &str, now: Millis) {
        let Some(g) = self.groups.get_mut(key) else { return };
        let Some(route) = tree.route(&g.route) else { return };
        let at = match g.last_notified {
            None => g.created_at + ms(route.timing.group_wait),
            Some(last) => (last + ms(route.timing.group_interval)).max(now),
        };
        g.due = Some(g.due.map_or(at, |d| d.min(at)));
        self.changed.groups.insert(key.to_string());
    }

    /// Apply one finding's state: join the groups its labels route it to,
    /// leave the others (as resolved there, if they were told it fired).
    pub fn ingest(&mut self, tree: &RouteTree, silences: &[Silence], input: Input<'_>, now: Millis) {
        let f = input.finding;
        let labels = f.routing_labels();
        let silenced = input.firing && silenced_by(silences, &labels, now).is_some();
        let targets = if input.firing && !silenced { tree.targets(&labels) } else { Vec::new() };
        let shared = Arc::new(f.clone());
        let current: Vec<String> = match self.index.get(&f.fingerprint) {
            Some(keys) if !(keys.len() == targets.len() && targets.iter().all(|t| keys.contains(&t.0))) => {
                keys.iter().filter(|k| !targets.iter().any(|t| &t.0 == *k)).cloned().collect()
            }
            _ => Vec::new(),
        };
        for key in &current {
            let Some(g) = self.groups.get_mut(key) else { continue };
            let Some(m) = g.members.get_mut(&f.fingerprint) else { continue };
            if !silenced && m.firing && m.told.is_some() {
                // told it fired: tell it stopped (when the route sends resolved)
                m.firing = false;
                m.finding = shared.clone();
                self.changed.members.insert((key.clone(), f.fingerprint.clone()));
                self.schedule(tree, key, now);
            } else if silenced || m.told.is_none() {
                self.remove_member(key, &f.fingerprint);
            }
        }
        for (key, route, sink) in targets {
            let g = self.join(&key, route, sink, &labels, now);
            // what is worth persisting: not a mere `last_seen`
            let mut material = true;
            let pending = match g.members.get_mut(&f.fingerprint) {
                None => {
                    g.members
                        .insert(f.fingerprint.clone(), Member { finding: shared.clone(), firing: true, told: None });
                    true
                }
                Some(m) => {
                    material = !m.firing || m.finding.severity != f.severity || m.finding.title != f.title;
                    m.finding = shared.clone();
                    m.firing = true;
                    match m.told {
                        None => true,
                        Some(t) if f.severity > t => true,
                        Some(t) => {
                            if f.severity < t {
                                m.told = Some(f.severity);
                            }
                            false
                        }
                    }
                }
            };
            match self.index.get_mut(&f.fingerprint) {
                Some(keys) if keys.contains(&key) => {}
                Some(keys) => {
                    keys.insert(key.clone());
                }
                None => {
                    self.index.insert(f.fingerprint.clone(), [key.clone()].into());
                }
            }
            if pending || material {
                self.changed.members.insert((key.clone(), f.fingerprint.clone()));
            }
            if pending {
                self.schedule(tree, &key, now);
            }
        }
    }

    /// Members an active silence now matches leave their groups without a
    /// word (they re-enter as new when the silence ends and they still fire).
    pub fn apply_silences(&mut self, silences: &[Silence], now: Millis) -> Vec<String> {
        let active: Vec<String> = silences.iter().filter(|s| s.active(now)).map(|s| s.id.clone()).collect();
        if self.applied_silences.as_ref() == Some(&active) {
            // members that joined since were checked on the way in
            return Vec::new();
        }
        let ended: Vec<String> = match &self.applied_silences {
            Some(before) => before.iter().filter(|id| !active.contains(id)).cloned().collect(),
            None => Vec::new(),
        };
        let nothing = active.is_empty();
        self.applied_silences = Some(active);
        if nothing {
            return ended;
        }
        let mut gone: Vec<(String, String)> = Vec::new();
        for g in self.groups.values() {
            for (fp, m) in &g.members {
                if m.firing && silenced_by(silences, &m.finding.routing_labels(), now).is_some() {
                    gone.push((g.key.clone(), fp.clone()));
                }
            }
        }
        for (key, fp) in gone {
            self.remove_member(&key, &fp);
        }
        ended
    }

    /// When the next group is due (a pending change or a repeat).
    pub fn next_due(&self, tree: &RouteTree) -> Option<Millis> {
        self.groups
            .values()
            .filter_map(|g| {
                let repeat = match (g.last_notified, tree.route(&g.route)) {
                    (Some(last), Some(r)) if g.members.values().any(|m| m.firing) => {
                        Some(last + ms(tree.repeat_interval(r, &g.sink)))
                    }
                    _ => None,
                };
                match (g.due, repeat) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            })
            .min()
    }

    /// Notifications of every group due at `now`. `immediate` ignores
    /// group_wait and group_interval (a one-shot `troop scan` has no later
    /// moment to send them); repeats still wait for repeat_interval.
    pub fn flush(&mut self, tree: &RouteTree, now: Millis, immediate: bool) -> Vec<Notification> {
        let mut out = Vec::new();
        let keys: Vec<String> = self.groups.keys().cloned().collect();
        for key in keys {
            let Some(route) = tree.route(&self.groups[&key].route) else { continue };
            let timing = route.timing;
            let repeat_every = ms(tree.repeat_interval(route, &self.groups[&key].sink));
            let g = self.groups.get_mut(&key).expect("key from the map");
            let any_firing = g.members.values().any(|m| m.firing);
            let repeat_due = any_firing && g.last_notified.is_some_and(|last| now >= last + repeat_every);
            let change_due = g.due.is_some_and(|d| immediate || d <= now);
            if !change_due && !repeat_due {
                continue;
            }
            let firing: Vec<&Member> = g.members.values().filter(|m| m.firing).collect();
            let resolved: Vec<&Member> = g.members.values().filter(|m| !m.firing).collect();
            let reason = if g.last_notified.is_none() && !firing.is_empty() {
                Some(Reason::First)
            } else if firing.iter().any(|m| m.told.is_none()) {
                Some(Reason::New)
            } else if firing.iter().any(|m| m.told.is_some_and(|t| m.finding.severity > t)) {
                Some(Reason::Escalated)
            } else if !resolved.is_empty() && timing.send_resolved {
                Some(Reason::Resolved)
            } else if repeat_due {
                Some(Reason::Repeat)
            } else {
                None
            };
            if let Some(reason) = reason {
                let group_id = g.group_id();
                let changed: Vec<String> = firing
                    .iter()
                    .filter(|m| m.told.is_none_or(|t| m.finding.severity > t))
                    .map(|m| m.finding.fingerprint.clone())
                    .collect();
                out.push(Notification {
                    id: format!("{group_id}-{}-{}", g.created_at, g.sent + 1),
                    group_id,
                    sink: g.sink.clone(),
                    route: g.route.clone(),
                    group_labels: g.labels.clone(),
                    reason,
                    status: if firing.is_empty() { "resolved" } else { "firing" }.to_string(),
                    at: now,
                    firing: firing.iter().map(|m| Arc::clone(&m.finding)).collect(),
                    resolved: if timing.send_resolved {
                        resolved.iter().map(|m| Arc::clone(&m.finding)).collect()
                    } else {
                        vec![]
                    },
                    changed,
                });
                g.sent += 1;
                g.last_notified = Some(now);
                for (fp, m) in g.members.iter_mut().filter(|(_, m)| m.firing) {
                    if m.told != Some(m.finding.severity) {
                        m.told = Some(m.finding.severity);
                        self.changed.members.insert((key.clone(), fp.clone()));
                    }
                }
            }
            g.due = None;
            let gone: Vec<String> = g.members.iter().filter(|(_, m)| !m.firing).map(|(fp, _)| fp.clone()).collect();
            self.changed.groups.insert(key.clone());
            for fp in &gone {
                self.remove_member(&key, fp);
            }
            if self.groups.get(&key).is_some_and(|g| g.members.is_empty()) {
                self.remove_group(&key);
            }
        }
        out
    }
}
