//! The keys timeline of one family: each key's published and signing windows as bars on one time axis with "now" marked, so an
//! operator sees at a glance that the next key is already published before it signs. Coordinates are computed
//! here; `templates/admin/keys.html` draws them as SVG.

use crate::clock::format_time;
use crate::keys::lifecycle::{KeyState, KeyView, Timing};

pub const WIDTH: f64 = 900.0;
const LABEL: f64 = 150.0;
const ROW: f64 = 34.0;
const TOP: f64 = 28.0;

pub struct Segment {
    pub x: f64,
    pub width: f64,
    /// CSS class: `published`, `signing`, `retiring`.
    pub class: &'static str,
    pub title: String,
}

pub struct Row {
    pub label: String,
    pub state: &'static str,
    pub y: f64,
    pub segments: Vec<Segment>,
}

pub struct Tick {
    pub x: f64,
    pub label: String,
}

pub struct Timeline {
    pub width: f64,
    pub height: f64,
    pub rows: Vec<Row>,
    pub now_x: f64,
    pub ticks: Vec<Tick>,
}

/// Lays out the keys that matter around `now`: every published key, and removed ones whose windows still fall
/// inside the visible range.
pub fn build(views: &[KeyView<'_>], now: i64, t: &Timing) -> Timeline {
    let period = t.rotation_period.max(1);
    let start = now - 2 * period;
    let end = now + period + period / 4;
    let scale = (WIDTH - LABEL - 10.0) / (end - start) as f64;
    let x = |at: i64| LABEL + (at.clamp(start, end) - start) as f64 * scale;

    let mut rows = Vec::new();
    for v in views {
        let k = v.key;
        let removed_at = k
            .revoked_at
            .or(v.removal_due.filter(|_| v.state == KeyState::Retired));
        let last = removed_at.or(v.removal_due).unwrap_or(end);
        if last < start && !v.state.is_published() {
            continue;
        }
        let mut segments = Vec::new();
        let mut push = |from: i64, to: i64, class: &'static str, what: &str| {
            if to > start && from < end && to > from {
                segments.push(Segment {
                    x: x(from),
                    width: (x(to) - x(from)).max(1.0),
                    class,
                    title: format!("{what}: {} to {}", format_time(from), format_time(to)),
                });
            }
        };
        let stop = k.revoked_at.unwrap_or(i64::MAX);
        // Published but not yet signing.
        push(
            k.published_at,
            k.activates_at.min(stop),
            "published",
            "published, not signing",
        );
        // Signing: until superseded, or (for the active key) until the next key's scheduled activation.
        let signing_end = k
            .superseded_at
            .unwrap_or(k.activates_at.saturating_add(period))
            .min(stop);
        push(k.activates_at, signing_end, "signing", "signing");
        // Hold: still published so tokens it signed verify.
        if let Some(s) = k.superseded_at {
            push(
                s,
                s.saturating_add(t.retire_after).min(stop),
                "retiring",
                "published, no longer signing",
            );
        }
        rows.push(Row {
            label: k.kid.chars().take(16).collect(),
            state: v.state.as_str(),
            y: TOP + rows.len() as f64 * ROW,
            segments,
        });
    }

    let ticks = (0..=6)
        .map(|i| {
            let at = start + (end - start) * i / 6;
            Tick {
                x: x(at),
                label: format_time(at)[..10].to_string(),
            }
        })
        .collect();
    Timeline {
        width: WIDTH,
        height: TOP + rows.len().max(1) as f64 * ROW + 24.0,
        now_x: x(now),
        rows,
        ticks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::models::signing_keys::SigningKey;
    use crate::keys::lifecycle::view;

    fn key(kid: &str, published: i64, activates: i64, superseded: Option<i64>) -> SigningKey {
        SigningKey {
            kid: kid.into(),
            alg: "RS256".into(),
            bits: 2048,
            public_n: String::new(),
            public_e: String::new(),
            sealed_private: None,
            master_key_id: "m".into(),
            created_at: published,
            published_at: published,
            activates_at: activates,
            superseded_at: superseded,
            revoked_at: None,
            revoke_reason: None,
            public_x: None,
            public_y: None,
        }
    }

    #[test]
    fn next_key_is_drawn_published_before_it_signs() {
        let day = 86_400;
        let t = Timing {
            rotation_period: 30 * day,
            prepublication: 1300,
            retire_after: 7 * day,
        };
        let now = 100 * day;
        let keys = vec![
            key("old", 40 * day, 70 * day, Some(85 * day)),
            key("active", 55 * day, 85 * day, None),
            key("next", 85 * day, 115 * day, None),
        ];
        let views = view(&keys, now, &t);
        let tl = build(&views, now, &t);
        assert_eq!(tl.rows.len(), 3);
        let next = tl.rows.iter().find(|r| r.label == "next").unwrap();
        assert_eq!(next.state, "next");
        let published = next
            .segments
            .iter()
            .find(|s| s.class == "published")
            .unwrap();
        let signing = next.segments.iter().find(|s| s.class == "signing").unwrap();
        assert!(
            published.x < tl.now_x && published.x + published.width > tl.now_x,
            "published across now"
        );
        assert!(signing.x > tl.now_x, "signs only later");
        let old = tl.rows.iter().find(|r| r.label == "old").unwrap();
        assert!(old.segments.iter().any(|s| s.class == "retiring"));
    }
}
