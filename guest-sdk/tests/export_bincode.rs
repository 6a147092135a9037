//! `export_session!` with both options, in the order `snapshot` then `codec`,
//! compiles natively (feature `bincode`).
#![cfg(feature = "bincode")]

use serde::{Deserialize, Serialize};
use sessionhost_guest::{Bincode, Codec, Session, export_session};

/// A running total.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
struct Total {
    /// The sum so far.
    sum: u64,
}

impl Session for Total {
    type Args = Option<u64>;
    type Call = u64;
    type Reply = u64;
    type Cast = u64;

    fn init(start: Option<u64>) -> Result<Self, String> {
        Ok(Total {
            sum: start.unwrap_or(0),
        })
    }

    fn handle_call(&mut self, add: u64) -> Result<u64, String> {
        self.sum = self.sum.checked_add(add).ok_or("overflow")?;
        Ok(self.sum)
    }
}

export_session!(Total, snapshot = serde, codec = Bincode);

#[test]
fn bincode_messages() {
    let mut total = Total::init(Bincode::decode(b"").expect("no args")).expect("init");
    let add = Bincode::decode(&Bincode::encode(&5_u64).expect("encode")).expect("decode");
    assert_eq!(total.handle_call(add), Ok(5));
}
