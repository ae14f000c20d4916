//! The operations: a few groups of znodes under `/h`, hammered by workers
//! that each hold one session and pick operations at random.
//!
//! * registers `/h/r<i>`: getData, exists, setData, compare-and-set
//!   (setData with the version last seen), sync + getData, delete and
//!   re-create;
//! * queues `/h/q<i>`: sequential creates of `n-`, getChildren, sync +
//!   getChildren, delete and getData of a child seen before;
//! * pairs `/h/m<i>` with children `a` and `b`: multi (check a's version,
//!   set a and b), multi (set a and b), multi (create or delete `c` with a
//!   set), getData of a or b.
//!
//! Few keys and many workers, so compare-and-set conflicts, creates race
//! deletes and reads race writes. Every write writes data no other write
//! ever wrote (`c<worker>-<n>`), which lets the checker tell which write a
//! read saw.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::client::Client;
use super::model::{Call, Outcome, Ret};

pub const REGISTERS: usize = 4;
pub const QUEUES: usize = 2;
pub const PAIRS: usize = 2;

/// Creates the groups (recorded like any other operation).
pub async fn setup(c: &mut Client) {
    let mut creates = vec!["/h".to_string()];
    for i in 0..REGISTERS {
        creates.push(format!("/h/r{i}"));
    }
    for i in 0..QUEUES {
        creates.push(format!("/h/q{i}"));
    }
    for i in 0..PAIRS {
        creates.push(format!("/h/m{i}"));
        creates.push(format!("/h/m{i}/a"));
        creates.push(format!("/h/m{i}/b"));
    }
    for (n, path) in creates.into_iter().enumerate() {
        let call = Call::Create {
            path: path.clone(),
            data: format!("setup-{n}").into_bytes(),
            sequential: false,
        };
        match c.run(call).await {
            Outcome::Ok(_) => {}
            other => panic!("setup: create {path}: {other}"),
        }
    }
}

pub struct Worker {
    pub client: Client,
    rng: StdRng,
    n: u64,
    versions: HashMap<String, i32>,
    children: HashMap<String, Vec<String>>,
}

impl Worker {
    pub fn new(client: Client, seed: u64) -> Worker {
        Worker {
            rng: StdRng::seed_from_u64(
                seed ^ (client.id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            ),
            client,
            n: 0,
            versions: HashMap::new(),
            children: HashMap::new(),
        }
    }

    fn data(&mut self) -> Vec<u8> {
        self.n += 1;
        format!("c{}-{}", self.client.id, self.n).into_bytes()
    }

    fn version_of(&mut self, path: &str) -> i32 {
        match self.versions.get(path) {
            Some(v) if self.rng.gen_bool(0.85) => *v,
            _ => self.rng.gen_range(0..4),
        }
    }

    fn learn(&mut self, call: &Call, out: &Outcome) {
        match (call, out) {
            (Call::GetData { path }, Outcome::Ok(Ret::Data(_, s)))
            | (Call::Exists { path }, Outcome::Ok(Ret::Exists(Some(s))))
            | (Call::SetData { path, .. }, Outcome::Ok(Ret::Set(s))) => {
                self.versions.insert(path.clone(), s.version);
            }
            (Call::Create { path, .. }, Outcome::Ok(_)) => {
                self.versions.insert(path.clone(), 0);
            }
            (Call::GetChildren { path }, Outcome::Ok(Ret::Children(c))) => {
                self.children.insert(path.clone(), c.clone());
            }
            (Call::Multi(calls), Outcome::Ok(Ret::Multi(rets))) => {
                for (c, r) in calls.iter().zip(rets) {
                    if let (Call::SetData { path, .. }, Ret::Set(s)) = (c, r) {
                        self.versions.insert(path.clone(), s.version);
                    }
                }
            }
            _ => {}
        }
    }

    /// A child of `queue` seen by an earlier getChildren (forgotten once
    /// used, so deletes do not all chase the same one).
    fn seen_child(&mut self, queue: &str) -> Option<String> {
        let kids = self.children.get_mut(queue)?;
        if kids.is_empty() {
            return None;
        }
        let i = self.rng.gen_range(0..kids.len());
        Some(format!("{queue}/{}", kids.remove(i)))
    }

    /// Picks and runs one operation.
    pub async fn step(&mut self) {
        // Now and then the session moves to another server by itself.
        if self.rng.gen_ratio(1, 150) {
            self.client.hop();
        }
        let roll = self.rng.gen_range(0..100);
        let r = format!("/h/r{}", self.rng.gen_range(0..REGISTERS));
        let q = format!("/h/q{}", self.rng.gen_range(0..QUEUES));
        let m = format!("/h/m{}", self.rng.gen_range(0..PAIRS));
        let (call, synced) = match roll {
            0..=19 => (Call::GetData { path: r }, false),
            20..=24 => (Call::Exists { path: r }, false),
            25..=33 => {
                let data = self.data();
                (
                    Call::SetData {
                        path: r,
                        data,
                        version: -1,
                    },
                    false,
                )
            }
            34..=47 => {
                let data = self.data();
                let version = self.version_of(&r);
                (
                    Call::SetData {
                        path: r,
                        data,
                        version,
                    },
                    false,
                )
            }
            48..=51 => (Call::GetData { path: r }, true),
            52..=54 => {
                let version = if self.rng.gen_bool(0.5) {
                    -1
                } else {
                    self.version_of(&r)
                };
                (Call::Delete { path: r, version }, false)
            }
            55..=58 => {
                let data = self.data();
                (
                    Call::Create {
                        path: r,
                        data,
                        sequential: false,
                    },
                    false,
                )
            }
            59..=64 => {
                let data = self.data();
                (
                    Call::Create {
                        path: format!("{q}/n-"),
                        data,
                        sequential: true,
                    },
                    false,
                )
            }
            65..=70 => (Call::GetChildren { path: q }, false),
            71..=72 => (Call::GetChildren { path: q }, true),
            // Deletes outnumber creates so the queues stay short (many
            // deletes race for the same child and fail).
            73..=80 => match self.seen_child(&q) {
                Some(child) => (
                    Call::Delete {
                        path: child,
                        version: -1,
                    },
                    false,
                ),
                None => (Call::GetChildren { path: q }, false),
            },
            81..=82 => match self.seen_child(&q) {
                Some(child) => (Call::GetData { path: child }, false),
                None => (Call::GetChildren { path: q }, false),
            },
            83..=87 => {
                let (a, b) = (format!("{m}/a"), format!("{m}/b"));
                let version = self.version_of(&a);
                let (da, db) = (self.data(), self.data());
                (
                    Call::Multi(vec![
                        Call::Check {
                            path: a.clone(),
                            version,
                        },
                        Call::SetData {
                            path: a,
                            data: da,
                            version: -1,
                        },
                        Call::SetData {
                            path: b,
                            data: db,
                            version: -1,
                        },
                    ]),
                    false,
                )
            }
            88..=90 => {
                let (a, b) = (format!("{m}/a"), format!("{m}/b"));
                let (da, db) = (self.data(), self.data());
                (
                    Call::Multi(vec![
                        Call::SetData {
                            path: a,
                            data: da,
                            version: -1,
                        },
                        Call::SetData {
                            path: b,
                            data: db,
                            version: -1,
                        },
                    ]),
                    false,
                )
            }
            91..=96 => {
                let which = if self.rng.gen_bool(0.5) { "a" } else { "b" };
                (
                    Call::GetData {
                        path: format!("{m}/{which}"),
                    },
                    self.rng.gen_ratio(1, 6),
                )
            }
            _ => {
                let c = format!("{m}/c");
                let (dc, da) = (self.data(), self.data());
                let first = if self.rng.gen_bool(0.5) {
                    Call::Create {
                        path: c,
                        data: dc,
                        sequential: false,
                    }
                } else {
                    Call::Delete {
                        path: c,
                        version: -1,
                    }
                };
                (
                    Call::Multi(vec![
                        first,
                        Call::SetData {
                            path: format!("{m}/a"),
                            data: da,
                            version: -1,
                        },
                    ]),
                    false,
                )
            }
        };
        if synced {
            if let Some(out) = self.client.sync_then(call.clone()).await {
                self.learn(&call, &out);
            }
        } else {
            let out = self.client.run(call.clone()).await;
            self.learn(&call, &out);
        }
    }
}
