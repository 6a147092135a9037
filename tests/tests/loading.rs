//! End-to-end: loading guests. Compiled code is shared by content, compilations are
//! bounded, a load either finishes or never starts, and guest names that would name a
//! directory are refused.

use std::time::Duration;

use serde_json::json;
use sessionhost::LoadOptions;
use sessionhost::{Host, StartOptions};
use sessionhost_tests::guests;
use sessionhost_tests::support::{self, call, eventually};

fn bytes(path: &str) -> Vec<u8> {
    sessionhost_tests::guest_bytes(path)
}

fn loaded(host: &Host, name: &str) -> bool {
    host.guests().iter().any(|g| g.name == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_component_under_several_names_is_compiled_once() {
    let host = Host::new(support::config().build().unwrap()).unwrap();
    let counter = bytes(guests::COUNTER);
    for name in ["a", "b", "c"] {
        host.load_guest(name, &counter, LoadOptions::default())
            .await
            .unwrap();
    }
    assert_eq!(host.stats().compiled_components, 1);
    let versions: Vec<_> = host.guests().into_iter().map(|g| g.version.hash).collect();
    assert!(versions.windows(2).all(|w| w[0] == w[1]), "{versions:?}");
    host.load_guest("d", &bytes(guests::CART), LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(host.stats().compiled_components, 2);

    // Replaced under every name (no session runs it), the code is let go.
    let lean = bytes(guests::COUNTER_LEAN);
    for name in ["a", "b", "c"] {
        host.load_guest(name, &lean, LoadOptions::default())
            .await
            .unwrap();
    }
    assert_eq!(host.stats().compiled_components, 2, "lean and cart");
    // Each name runs sessions of its own on the one compiled component.
    for name in ["a", "b", "c"] {
        let id = host.start(StartOptions::guest(name)).await.unwrap();
        assert_eq!(
            call(&host, &id, json!({"op":"incr"})).await.unwrap(),
            json!({"value":1})
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_runs_to_the_end_or_never_starts() {
    let host = Host::new(
        support::config()
            .max_concurrent_compiles(1)
            .build()
            .unwrap(),
    )
    .unwrap();
    // Its caller gives up while it compiles: it still finishes and takes effect.
    let first = {
        let host = host.clone();
        tokio::spawn(async move {
            host.load_guest("hostile", &bytes(guests::HOSTILE), LoadOptions::default())
                .await
        })
    };
    eventually("the first load compiles", || host.stats().compiling == 1).await;
    first.abort();
    // Its caller gives up while it waits for the one compilation slot: it never starts.
    let second = tokio::time::timeout(
        Duration::from_millis(5),
        host.load_guest("counter", &bytes(guests::COUNTER), LoadOptions::default()),
    )
    .await;
    assert!(second.is_err());
    // The slot is fair: once a later load is done, the abandoned one has had its turn.
    host.load_guest("cart", &bytes(guests::CART), LoadOptions::default())
        .await
        .unwrap();
    eventually("the abandoned-while-compiling load took effect", || {
        loaded(&host, "hostile")
    })
    .await;
    assert!(
        !loaded(&host, "counter"),
        "an abandoned load never compiled"
    );
    assert_eq!(host.stats().compiled_components, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_names_that_name_a_directory_are_refused() {
    let host = Host::new(support::config().build().unwrap()).unwrap();
    let counter = bytes(guests::COUNTER);
    for name in [".", ".."] {
        let error = host
            .load_guest(name, &counter, LoadOptions::default())
            .await
            .unwrap_err();
        assert!(error.reason.contains("names a directory"), "{error}");
        let error = host
            .load_guest(name, &counter, LoadOptions::default())
            .await
            .unwrap_err();
        assert!(error.reason.contains("not a valid guest name"), "{error}");
    }
    // Dots inside a name are fine.
    host.load_guest("counter.v2", &counter, LoadOptions::default())
        .await
        .unwrap();
    assert!(host.guests().iter().all(|g| g.name == "counter.v2"));
}
