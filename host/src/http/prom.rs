//! `GET /metrics`: the host's figures in the Prometheus text format.
//!
//! Rendered at scrape time from [`Host::metrics`] and [`Host::stats`] with the
//! `prometheus-client` crate: the host keeps its own lock-free counters, so the request path
//! pays nothing for metrics between scrapes.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `sessionhost_sessions_active` | gauge | `guest` |
//! | `sessionhost_sessions_started_total` | counter | |
//! | `sessionhost_sessions_stopped_total` | counter | `reason` |
//! | `sessionhost_calls_total` | counter | `outcome` |
//! | `sessionhost_call_duration_seconds` | histogram | |
//! | `sessionhost_casts_total` | counter | |
//! | `sessionhost_fuel_consumed_total` | counter | |
//! | `sessionhost_guest_memory_bytes` | gauge | `guest` |
//! | `sessionhost_mailbox_full_total` | counter | |
//! | `sessionhost_rate_limited_total` | counter | |
//! | `sessionhost_sessions_expired_total` | counter | |
//! | `sessionhost_sessions_restarted_total` | counter | |
//! | `sessionhost_sessions_hibernated_total`, `sessionhost_sessions_woken_total` | counter | |
//! | `sessionhost_upgrades_total`, `sessionhost_upgrades_failed_total` | counter | |
//! | `sessionhost_messages_discarded_total` | counter | |
//! | `sessionhost_checkpoints_failed_total`, `sessionhost_checkpoint_writes_failed_total` | counter | |
//! | `sessionhost_blocked_messages` | gauge | |

use std::collections::HashMap;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::exemplar::Exemplar;
use prometheus_client::registry::Registry;

use crate::{DURATION_BUCKETS, Host};

#[derive(Debug)]
struct HostCollector(Host);

type Labels = Vec<(&'static str, String)>;

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: &[(Labels, u64)],
) -> std::fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in series {
        metric
            .encode_family(labels)?
            .encode_counter::<Labels, _, u64>(value, None)?;
    }
    Ok(())
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: &[(Labels, i64)],
) -> std::fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in series {
        metric.encode_family(labels)?.encode_gauge(value)?;
    }
    Ok(())
}

fn by_label(label: &'static str, values: &[(&'static str, u64)]) -> Vec<(Labels, u64)> {
    values
        .iter()
        .map(|(k, v)| (vec![(label, (*k).to_string())], *v))
        .collect()
}

fn by_guest(values: &[(String, u64)]) -> Vec<(Labels, i64)> {
    values
        .iter()
        .map(|(g, v)| {
            (
                vec![("guest", g.clone())],
                i64::try_from(*v).unwrap_or(i64::MAX),
            )
        })
        .collect()
}

impl Collector for HostCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let snapshot = self.0.metrics();
        let c = &snapshot.counters;
        let none = Labels::new();
        let mut active = by_guest(&snapshot.sessions_by_guest);
        if active.is_empty() {
            active.push((none.clone(), 0));
        }
        gauge(
            &mut encoder,
            "sessionhost_sessions_active",
            "Live sessions.",
            &active,
        )?;
        counter(
            &mut encoder,
            "sessionhost_sessions_stopped",
            "Sessions ended, by stop reason.",
            &by_label("reason", &c.stopped_total),
        )?;
        counter(
            &mut encoder,
            "sessionhost_calls",
            "Calls, by outcome (ok or an error kind).",
            &by_label("outcome", &c.calls_total),
        )?;
        let mut histogram = encoder.encode_descriptor(
            "sessionhost_call_duration_seconds",
            "Time from a call's arrival to its reply or error.",
            None,
            MetricType::Histogram,
        )?;
        let mut buckets: Vec<(f64, u64)> = DURATION_BUCKETS
            .iter()
            .copied()
            .zip(c.call_duration_buckets.iter().copied())
            .collect();
        buckets.push((f64::INFINITY, c.call_duration_count));
        histogram.encode_histogram::<Labels>(
            c.call_duration_sum_seconds,
            c.call_duration_count,
            &buckets,
            None::<&HashMap<usize, Exemplar<Labels, f64>>>,
        )?;
        let mut memory = by_guest(&snapshot.memory_bytes_by_guest);
        if memory.is_empty() {
            memory.push((none.clone(), 0));
        }
        gauge(
            &mut encoder,
            "sessionhost_guest_memory_bytes",
            "Linear memory of live sessions.",
            &memory,
        )?;
        // Host-wide counters without labels.
        let totals = [
            (
                "sessionhost_sessions_started",
                "Sessions started.",
                c.started_total,
            ),
            ("sessionhost_casts", "Casts accepted.", c.casts_total),
            (
                "sessionhost_fuel_consumed",
                "Fuel burned by guests.",
                c.fuel_consumed_total,
            ),
            (
                "sessionhost_mailbox_full",
                "Messages refused because a mailbox was full.",
                c.mailbox_full_total,
            ),
            (
                "sessionhost_sessions_expired",
                "Sessions ended for idleness (session_ttl) or age (session_max_lifetime).",
                c.expired_total,
            ),
            (
                "sessionhost_sessions_restarted",
                "Sessions started again after a failure, by their guest's restart policy.",
                c.restarted_total,
            ),
            (
                "sessionhost_sessions_hibernated",
                "Sessions hibernated: snapshot stored, instance freed.",
                c.hibernated_total,
            ),
            (
                "sessionhost_sessions_woken",
                "Hibernated sessions woken by a message.",
                c.woken_total,
            ),
            (
                "sessionhost_upgrades",
                "Sessions moved to a new version of their guest (migrate policy).",
                c.upgrades_total,
            ),
            (
                "sessionhost_upgrades_failed",
                "Session moves to a new guest version that failed (the session stayed).",
                c.upgrades_failed_total,
            ),
            (
                "sessionhost_rate_limited",
                "Session starts refused by the rate limit.",
                c.rate_limited_total,
            ),
            (
                "sessionhost_messages_discarded",
                "Queued messages discarded because their session was terminated before they ran.",
                c.discarded_total,
            ),
            (
                "sessionhost_checkpoints_failed",
                "Checkpoints whose snapshot failed (the session went back to the previous one).",
                c.checkpoints_failed_total,
            ),
            (
                "sessionhost_checkpoint_writes_failed",
                "Calls answered although the durable store failed to commit their checkpoint.",
                c.checkpoint_writes_failed_total,
            ),
        ];
        for (name, help, value) in totals {
            counter(&mut encoder, name, help, &[(none.clone(), value)])?;
        }
        let blocked = i64::try_from(self.0.stats().blocked).unwrap_or(i64::MAX);
        gauge(
            &mut encoder,
            "sessionhost_blocked_messages",
            "Messages blocked in a WASI call now, each on a thread of its own.",
            &[(none, blocked)],
        )?;
        Ok(())
    }
}

/// Renders the metrics text.
pub(crate) fn render(host: &Host) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(HostCollector(host.clone())));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)?;
    Ok(text)
}

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    operation_id = "metrics",
    summary = "Prometheus metrics",
    responses(
        (status = 200, description = "OpenMetrics text.", body = String, content_type = "application/openmetrics-text"),
        (status = 500, description = "The metrics could not be rendered (`internal_error`).", body = crate::http::error::Problem),
    )
)]
pub(crate) async fn metrics(State(host): State<Host>) -> Response {
    match render(&host) {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
