//! Criterion micro benchmarks of the public API with the counter guest: start (+terminate),
//! call, cast, lookup. `cargo bench -p sessionhost-bench`; setup stays outside the timed loop.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use sessionhost::StartOptions;
use sessionhost_bench::{counter_host, start_many};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn sessions(c: &mut Criterion) {
    let rt = runtime();
    let host = rt.block_on(counter_host(10_000, "counter")).expect("host");
    let ids = rt.block_on(start_many(&host, 1_000)).expect("sessions");
    let mut group = c.benchmark_group("session");

    group.bench_function("start+terminate", |b| {
        b.to_async(&rt).iter(|| async {
            let id = host.start(StartOptions::default()).await.expect("start");
            host.terminate(&id).await.expect("terminate");
        });
    });

    let mut i = 0;
    group.bench_function("call", |b| {
        b.to_async(&rt).iter(|| {
            i += 1;
            let id = &ids[i % ids.len()];
            let host = &host;
            async move {
                black_box(
                    host.call(id, br#"{"op":"incr"}"#, None)
                        .await
                        .expect("call"),
                );
            }
        });
    });

    group.bench_function("cast", |b| {
        b.to_async(&rt).iter(|| {
            i += 1;
            let id = &ids[i % ids.len()];
            let host = &host;
            async move {
                // A full mailbox is an error; with 1 000 sessions it does not fill here.
                host.cast(id, br#"{"op":"incr"}"#).await.expect("cast");
            }
        });
    });

    group.bench_function("lookup", |b| {
        b.iter(|| {
            i += 1;
            black_box(host.is_started(&ids[i % ids.len()]))
        });
    });
    group.finish();
}

criterion_group!(benches, sessions);
criterion_main!(benches);
