//! `export_session!` with its defaults (JSON, the trait's snapshot/restore)
//! compiles natively, for a state that is not serializable. One export per
//! test crate: a component exports its `session` interface once.

use sessionhost_guest::{Session, StopReason, export_session};

/// A session that keeps a non-serializable handle.
struct Echo {
    /// Messages seen; a `Box<dyn Fn>` so that `Echo` cannot be `Serialize`.
    seen: Box<dyn Fn(usize) -> usize>,
}

impl Session for Echo {
    type Args = ();
    type Call = String;
    type Reply = String;
    type Cast = ();

    fn init((): ()) -> Result<Self, String> {
        Ok(Echo {
            seen: Box::new(|n| n + 1),
        })
    }

    fn handle_call(&mut self, call: String) -> Result<String, String> {
        Ok(format!("{call} {}", (self.seen)(0)))
    }

    fn terminate(&mut self, reason: StopReason) {
        let _ = reason;
    }
}

export_session!(Echo);

#[test]
fn trait_methods_work() {
    let mut echo = Echo::init(()).expect("init");
    assert_eq!(echo.handle_call("hi".to_owned()), Ok("hi 1".to_owned()));
    assert_eq!(echo.snapshot(), None);
}
