//! The `sessionhost` binary, run as a user runs it: `version`, `check`, and `serve` with a
//! config file, an environment override, live traffic and SIGTERM.

#![expect(clippy::unwrap_used, reason = "test helpers panic on a broken fixture")]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use sessionhost_tests::guests;

const BIN: &str = env!("CARGO_BIN_EXE_sessionhost");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn version_names_the_contract() {
    let out = run(&["version"]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    assert!(stdout.contains(env!("CARGO_PKG_VERSION")), "{stdout}");
    assert!(
        stdout.contains("sessionhost:session/session@0.1.0"),
        "{stdout}"
    );
}

#[test]
fn check_describes_a_guest_and_rejects_what_is_not_one() {
    let ok = run(&["check", guests::COUNTER]);
    let stdout = text(&ok.stdout);
    assert!(ok.status.success(), "{stdout}{}", text(&ok.stderr));
    assert!(stdout.contains("ok: runs as a session guest"), "{stdout}");
    assert!(stdout.contains("memory"), "{stdout}");

    let dir = tempdir("check");
    let junk = dir.join("junk.wasm");
    std::fs::write(&junk, b"not a component").unwrap();
    let bad = run(&["check", junk.to_str().unwrap()]);
    assert!(!bad.status.success());
    let stdout = text(&bad.stdout);
    assert!(stdout.contains("rejected"), "{stdout}");
    assert!(!stdout.contains("backtrace"), "{stdout}");
}

#[test]
fn check_into_a_closed_pipe_ends_quietly() {
    // `sessionhost check x.wasm | head -1`: the reader is gone before the report is written.
    let mut child = Command::new(BIN)
        .args(["check", guests::COUNTER])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("ends");
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn serve_refuses_a_config_with_an_unknown_key() {
    let dir = tempdir("badconfig");
    let file = dir.join("sessionhost.toml");
    std::fs::write(&file, "[http]\nlisen = \"127.0.0.1:0\"\n").unwrap();
    let out = run(&["serve", "--config", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("lisen"), "{stderr}");
}

/// A server process whose log lines arrive on a channel.
struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Server {
    fn spawn(config: &Path, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "--config",
                config.to_str().unwrap(),
                "--log",
                "json",
            ])
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawns");
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            log: Vec::new(),
        }
    }

    /// Waits until the server listens, and returns its session-call URL.
    fn call_url(&mut self) -> String {
        let ready = self.wait_for("sessionhost serving");
        let ready: serde_json::Value = serde_json::from_str(&ready).unwrap();
        let addr = ready["fields"]["listen"].as_str().unwrap();
        format!("http://{addr}/v1/session/call")
    }

    /// Sends SIGTERM and returns the log line that reports the sessions it ended.
    fn terminate(&mut self) -> String {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        self.wait_for("sessions ended")
    }

    /// Waits for a log line containing `needle` and returns it.
    fn wait_for(&mut self, needle: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("no `{needle}` in the log: {:#?}", self.log));
            self.log.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_from_a_config_file_and_shuts_down_on_sigterm() {
    const VISITORS: usize = 3;
    let dir = tempdir("serve");
    let config = counter_config(&dir, "max_sessions = 100\n");
    // The environment overrides the file.
    let mut server = Server::spawn(&config, &[("SESSIONHOST_HOST__MAX_SESSIONS", "3")]);
    let url = server.call_url();

    // Three visitors, each with its own session; the fourth is over the limit of 3.
    let mut visitors = Vec::new();
    for _ in 0..VISITORS {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        for expected in 1..=2 {
            let reply = client
                .post(&url)
                .body(r#"{"op":"incr","by":1}"#)
                .send()
                .await
                .unwrap();
            assert_eq!(reply.status(), 200);
            let body: serde_json::Value = reply.json().await.unwrap();
            assert_eq!(body["value"], expected);
        }
        visitors.push(client);
    }
    let refused = reqwest::Client::new()
        .post(&url)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    // The signing key was kept in data_dir, for the next start.
    assert!(dir.join("signing.key").exists());

    // Calls keep flowing while SIGTERM arrives: each visitor calls until the server is gone,
    // and the signal is sent once every one of them has been answered a few times.
    let (answered, flowing) = tokio::sync::mpsc::channel(VISITORS);
    let load: Vec<_> = visitors
        .into_iter()
        .map(|client| {
            let url = url.clone();
            let answered = answered.clone();
            tokio::spawn(async move {
                let mut answers = 0;
                while let Ok(reply) = client.post(&url).body(r#"{"op":"incr"}"#).send().await {
                    if reply.status() == 200 {
                        answers += 1;
                        if answers == ANSWERS_BEFORE_SIGNAL {
                            let _ = answered.send(()).await;
                        }
                    }
                }
            })
        })
        .collect();
    drop(answered);
    each_answered(flowing, VISITORS).await;
    let ended = server.terminate();
    assert!(ended.contains("\"sessions\":3"), "{ended}");
    server.wait_for("sessionhost stopped");
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status}");
    for task in load {
        task.await.unwrap();
    }
}

/// How many answers each load task waits for before the server is signalled (SIGTERM,
/// `kill -9`): enough to know the calls are flowing, on any machine, without sleeping.
const ANSWERS_BEFORE_SIGNAL: usize = 5;

/// Waits until `clients` load tasks have each said, once, that they were answered
/// [`ANSWERS_BEFORE_SIGNAL`] times. Panics if every task ended before that (the server went
/// away or refused them), rather than waiting forever.
async fn each_answered(mut flowing: tokio::sync::mpsc::Receiver<()>, clients: usize) {
    for ready in 0..clients {
        assert!(
            flowing.recv().await.is_some(),
            "only {ready} of {clients} clients were answered {ANSWERS_BEFORE_SIGNAL} times"
        );
    }
}

/// Writes `dir/sessionhost.toml`: data in `dir`, port 0, the counter guest as default, and
/// `host_keys` added to the `[host]` table.
fn counter_config(dir: &Path, host_keys: &str) -> std::path::PathBuf {
    let config = dir.join("sessionhost.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {dir:?}\n[host]\ndefault_guest = \"counter\"\n{host_keys}\
             [http]\nlisten = \"127.0.0.1:0\"\n[guests]\ncounter = {:?}\n",
            guests::COUNTER
        ),
    )
    .unwrap();
    config
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sessionhost-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_their_cookies_survive_a_server_restart_with_a_data_dir() {
    let dir = tempdir("restart");
    let config = counter_config(&dir, "");
    let visitor = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let mut expected = 0;
    for run in 0..2 {
        let mut server = Server::spawn(&config, &[]);
        let url = server.call_url();
        for _ in 0..2 {
            expected += 1;
            let body: serde_json::Value = visitor
                .post(&url)
                .body(r#"{"op":"incr"}"#)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(body["value"], expected, "run {run}: {body}");
        }
        let ended = server.terminate();
        assert!(ended.contains("\"saved\":1"), "{ended}");
        assert!(server.child.wait().unwrap().success());
    }
    assert!(dir.join("sessions.redb").exists());
}

/// `kill -9` under load: with `checkpoint_every = 1` and the default `sync` durability,
/// every session comes back (on its next message) at or after its last acknowledged value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_brings_every_session_back_from_its_last_acknowledged_checkpoint() {
    const CLIENTS: usize = 16;
    let dir = tempdir("crash");
    let config = counter_config(&dir, "rate_limit = 0\n");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("[guest_options.counter]\ncheckpoint_every = 1\n");
    std::fs::write(&config, text).unwrap();

    let mut server = Server::spawn(&config, &[]);
    let url = server.call_url();
    let clients: Vec<reqwest::Client> = (0..CLIENTS)
        .map(|_| {
            reqwest::Client::builder()
                .cookie_store(true)
                .build()
                .unwrap()
        })
        .collect();
    // Each client increments as fast as it can and keeps the last value it was answered; the
    // server is killed once every client has been answered a few times.
    let (answered, flowing) = tokio::sync::mpsc::channel(CLIENTS);
    let load: Vec<_> = clients
        .iter()
        .cloned()
        .map(|client| {
            let url = url.clone();
            let answered = answered.clone();
            tokio::spawn(async move {
                let mut acknowledged = 0_i64;
                let mut answers = 0;
                loop {
                    let Ok(reply) = client.post(&url).body(r#"{"op":"incr"}"#).send().await else {
                        return acknowledged;
                    };
                    let Ok(body) = reply.json::<serde_json::Value>().await else {
                        return acknowledged;
                    };
                    acknowledged = body["value"].as_i64().unwrap();
                    answers += 1;
                    if answers == ANSWERS_BEFORE_SIGNAL {
                        let _ = answered.send(()).await;
                    }
                }
            })
        })
        .collect();
    drop(answered);
    each_answered(flowing, CLIENTS).await;
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .unwrap()
            .success()
    );
    let _ = server.child.wait();
    let mut acknowledged = Vec::new();
    for task in load {
        acknowledged.push(task.await.unwrap());
    }
    assert!(
        acknowledged.iter().all(|&v| v > 0),
        "every client was answered before the kill: {acknowledged:?}"
    );
    eprintln!("acknowledged before the kill: {acknowledged:?}");

    let mut server = Server::spawn(&config, &[]);
    let url = server.call_url();
    let recovered = server
        .log
        .iter()
        .find(|line| line.contains("recovered sessions from their last checkpoint"))
        .cloned()
        .unwrap_or_else(|| server.wait_for("recovered sessions"));
    assert!(
        recovered.contains(&format!("\"sessions\":{CLIENTS}")),
        "{recovered}"
    );
    for (client, acknowledged) in clients.iter().zip(&acknowledged) {
        let body: serde_json::Value = client
            .post(&url)
            .body(r#"{"op":"get"}"#)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let value = body["value"].as_i64().unwrap();
        // The call in flight at the kill may have been checkpointed without its answer.
        assert!(
            (*acknowledged..=acknowledged + 1).contains(&value),
            "acknowledged {acknowledged}, found {value}"
        );
    }
    let ended = server.terminate();
    assert!(ended.contains(&format!("\"saved\":{CLIENTS}")), "{ended}");
    assert!(server.child.wait().unwrap().success());
}
