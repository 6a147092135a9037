//! What durable checkpoints cost: calls of the SDK counter with `checkpoint_every = 1` and a
//! durable store (redb in a scratch directory under `target/`), next to the same calls with
//! no checkpoints, in the same run.
//!
//! `sync` answers a call once its checkpoint is on disk, and commits the checkpoints that
//! arrive during one commit together: its rate grows with the number of sessions calling at
//! once (one fsync is shared), so it is measured with 2 callers (the `call_per_s` scenario)
//! and with 64. `group` commits every `checkpoint_group_commit` and does not make replies
//! wait. A bare fsync of the same disk is timed as the floor of a `sync` commit.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sessionhost::GuestSource;
use sessionhost::store::PersistentStore;
use sessionhost::{CheckpointDurability, GuestOptions, Host, HostConfig};
use sessionhost_bench::figures::Figures;
use sessionhost_bench::measure::calls;
use sessionhost_bench::plan::{SUBJECTS, UNPREFIXED};
use sessionhost_bench::{guest_path, start_many};

use crate::Progress;
use crate::table::{Table, rate};

/// The scenarios: JSON key, durability, callers (each calling a session of its own).
const SCENARIOS: [(&str, CheckpointDurability, usize); 3] = [
    ("checkpoint_call_per_s", CheckpointDurability::Sync, 2),
    (
        "checkpoint_call_per_s_64_callers",
        CheckpointDurability::Sync,
        64,
    ),
    (
        "checkpoint_group_call_per_s",
        CheckpointDurability::Group,
        2,
    ),
];

/// A host with a durable store in `dir` and the SDK counter checkpointing every message.
async fn durable_host(dir: &Path, durability: CheckpointDurability) -> anyhow::Result<Host> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let store = Arc::new(PersistentStore::open(dir.join("sessions.redb"))?);
    let config = HostConfig::builder()
        .max_sessions(1_000)
        .rate_limit(0)
        .default_guest(UNPREFIXED)
        .checkpoint_durability(durability)
        .build()?;
    let host = Host::with_store(config, store)?;
    let options = GuestOptions {
        checkpoint_every: 1,
        ..GuestOptions::default()
    };
    host.load_guest(
        UNPREFIXED,
        GuestSource::file(guest_path(UNPREFIXED)?),
        options,
    )
    .await?;
    Ok(host)
}

/// Median time of an fsync after a 4 KiB write in `dir`, in microseconds.
fn fsync_us(dir: &Path) -> anyhow::Result<f64> {
    let path = dir.join("fsync-probe");
    let mut file = std::fs::File::create(&path)?;
    let mut times = Vec::new();
    for _ in 0..50 {
        file.write_all(&[7; 4096])?;
        let began = Instant::now();
        file.sync_data()?;
        times.push(began.elapsed().as_secs_f64() * 1e6);
    }
    std::fs::remove_file(&path)?;
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Measures every scenario.
pub(crate) async fn measure(
    figures: &mut Figures,
    run_for: Duration,
    progress: &Progress,
) -> anyhow::Result<()> {
    let scratch: PathBuf =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-durable");
    for (key, durability, callers) in SCENARIOS {
        let host = durable_host(&scratch, durability).await?;
        let ids = start_many(&host, callers).await?;
        let (per_s, mut latencies) = calls(&host, &ids, callers, run_for).await?;
        let p99 = latencies.quantile_us(0.99);
        progress.say(format!(
            "durable checkpoints, {durability:?}, {callers} callers: {} calls/s, p99 {p99:.0} µs",
            rate(per_s)
        ));
        figures.set(UNPREFIXED, key, per_s);
        figures.set(UNPREFIXED, key.replace("per_s", "p99_us"), p99);
        host.shutdown().await;
    }
    figures.set(UNPREFIXED, "fsync_us", fsync_us(&scratch)?);
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

/// The table rows.
pub(crate) fn rows(table: &mut Table, figures: &Figures) {
    let cell = |name: &str, show: &dyn Fn(f64) -> String| {
        SUBJECTS.map(|subject| {
            figures
                .get(subject, name)
                .filter(|_| subject == UNPREFIXED)
                .map(show)
                .unwrap_or_default()
        })
    };
    table.section("durable checkpoints (checkpoint_every = 1, redb on this disk)");
    table.row(
        "calls/s, 2 callers, no checkpoints (as above)",
        cell("call_per_s", &rate),
        "",
    );
    for (key, durability, callers) in SCENARIOS {
        let name = format!("calls/s, {callers} callers, {durability:?} checkpoints").to_lowercase();
        table.row(name, cell(key, &rate), "");
        table.row(
            "  p99 µs",
            cell(&key.replace("per_s", "p99_us"), &|v| format!("{v:.0}")),
            "",
        );
    }
    table.row(
        "  fsync of a 4 KiB write, median µs (the floor of a sync commit)",
        cell("fsync_us", &|v| format!("{v:.0}")),
        "",
    );
}
