//! The cart guest: a shopping cart per session, with typed messages.
//!
//! Protocol (JSON, `op` names the operation):
//! - call `{"op":"add","sku":s,"qty":n,"price_cents":p}` → summary; adding a
//!   SKU already in the cart adds to its quantity and takes the new price;
//! - call `{"op":"remove","sku":s,"qty":n}` → summary; without `qty` the
//!   whole line goes; fails with `no such item: <sku>`;
//! - call `{"op":"list"}` → `{"items":[{"sku":s,"qty":n,"price_cents":p}]}`,
//!   sorted by SKU;
//! - call `{"op":"total"}` → summary; call `{"op":"clear"}` → summary (empty);
//! - cast `{"op":"add",...}` as the call, errors logged as warnings.
//!
//! A summary is `{"items":units,"total_cents":t}`. Quantities are at least 1
//! and prices at least 0, or the call fails (`qty must be at least 1`,
//! `price_cents must not be negative`). Init args are ignored. After every
//! change the summary is published to the session's subscribers (best
//! effort). Snapshots are the whole cart.

use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use sessionhost_guest::{Session, ctx, export_session};

/// The state of one cart: its lines, by SKU.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Cart {
    /// One line per SKU.
    lines: BTreeMap<String, Line>,
}

/// One line of the cart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// Units of this SKU; never 0.
    qty: u32,
    /// Price of one unit, in cents; never negative.
    price_cents: i64,
}

/// A request that expects a reply.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Call {
    /// Adds `qty` units of `sku` at `price_cents` each.
    Add(Add),
    /// Removes `qty` units of `sku`, or the whole line without `qty`.
    Remove {
        /// Which SKU.
        sku: String,
        /// How many units; absent means all.
        qty: Option<u32>,
    },
    /// Lists the lines.
    List,
    /// Sums the cart up.
    Total,
    /// Empties the cart.
    Clear,
}

/// The fields of an `add`, as a call or a cast.
#[derive(Debug, Deserialize)]
pub struct Add {
    /// Which SKU.
    sku: String,
    /// How many units; at least 1.
    qty: u32,
    /// Price of one unit in cents; not negative.
    price_cents: i64,
}

/// A message that expects no reply.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Cast {
    /// Same as [`Call::Add`].
    Add(Add),
}

/// Units in the cart and what they cost; the reply to most calls and the
/// event published on every change.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Number of units, all lines together.
    items: u64,
    /// Total price in cents.
    total_cents: i64,
}

/// A line as listed by `list`.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct Item {
    /// Which SKU.
    sku: String,
    /// Units of this SKU.
    qty: u32,
    /// Price of one unit in cents.
    price_cents: i64,
}

/// The reply to a call.
#[derive(Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Reply {
    /// To `add`, `remove`, `total` and `clear`.
    Summary(Summary),
    /// To `list`.
    Items {
        /// The lines, sorted by SKU.
        items: Vec<Item>,
    },
}

impl Cart {
    /// Units and total price of the cart.
    fn summary(&self) -> Result<Summary, String> {
        let mut summary = Summary {
            items: 0,
            total_cents: 0,
        };
        for line in self.lines.values() {
            summary.items += u64::from(line.qty);
            summary.total_cents = i64::from(line.qty)
                .checked_mul(line.price_cents)
                .and_then(|cost| cost.checked_add(summary.total_cents))
                .ok_or("total overflows")?;
        }
        Ok(summary)
    }

    /// Applies a change, then publishes and returns the new summary. A change
    /// that would make the total overflow is undone.
    fn change(
        &mut self,
        edit: impl FnOnce(&mut Self) -> Result<(), String>,
    ) -> Result<Summary, String> {
        let before = self.lines.clone();
        edit(self)?;
        let summary = self.summary().inspect_err(|_| self.lines = before)?;
        // Publishing is best effort: a refused event must not fail the call.
        let _ = ctx::publish(&summary);
        Ok(summary)
    }

    /// Validates and applies an `add`.
    fn add(&mut self, add: Add) -> Result<Summary, String> {
        let Add {
            sku,
            qty,
            price_cents,
        } = add;
        if qty == 0 {
            return Err("qty must be at least 1".to_owned());
        }
        if price_cents < 0 {
            return Err("price_cents must not be negative".to_owned());
        }
        self.change(|cart| {
            let line = cart.lines.entry(sku).or_insert(Line {
                qty: 0,
                price_cents,
            });
            line.qty = line.qty.checked_add(qty).ok_or("qty overflows")?;
            line.price_cents = price_cents;
            Ok(())
        })
    }

    /// Applies a `remove`.
    fn remove(&mut self, sku: &str, qty: Option<u32>) -> Result<Summary, String> {
        if qty == Some(0) {
            return Err("qty must be at least 1".to_owned());
        }
        self.change(|cart| {
            let line = cart
                .lines
                .get_mut(sku)
                .ok_or_else(|| format!("no such item: {sku}"))?;
            match qty {
                Some(qty) if qty < line.qty => line.qty -= qty,
                _ => {
                    cart.lines.remove(sku);
                }
            }
            Ok(())
        })
    }
}

impl Session for Cart {
    type Args = IgnoredAny;
    type Call = Call;
    type Reply = Reply;
    type Cast = Cast;

    fn init(_args: IgnoredAny) -> Result<Self, String> {
        Ok(Cart::default())
    }

    fn handle_call(&mut self, call: Call) -> Result<Reply, String> {
        let summary = match call {
            Call::Add(add) => self.add(add)?,
            Call::Remove { sku, qty } => self.remove(&sku, qty)?,
            Call::List => {
                let items = self.lines.iter().map(|(sku, line)| Item {
                    sku: sku.clone(),
                    qty: line.qty,
                    price_cents: line.price_cents,
                });
                return Ok(Reply::Items {
                    items: items.collect(),
                });
            }
            Call::Total => self.summary()?,
            Call::Clear => self.change(|cart| {
                cart.lines.clear();
                Ok(())
            })?,
        };
        Ok(Reply::Summary(summary))
    }

    fn handle_cast(&mut self, cast: Cast) {
        let Cast::Add(add) = cast;
        if let Err(e) = self.add(add) {
            ctx::warn(&format!("add refused: {e}"));
        }
    }
}

export_session!(Cart, snapshot = serde);

/// Native unit tests, against the SDK's fake host (absent on wasm32).
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use sessionhost_guest::{Codec, Json, testing};

    fn call(cart: &mut Cart, json: &str) -> Result<String, String> {
        let reply = cart.handle_call(Json::decode(json.as_bytes())?)?;
        String::from_utf8(Json::encode(&reply)?).map_err(|e| e.to_string())
    }

    #[test]
    fn add_list_remove_total() {
        let mut cart = Cart::init(IgnoredAny).expect("init");
        let add = r#"{"op":"add","sku":"b-2","qty":2,"price_cents":150}"#;
        assert_eq!(
            call(&mut cart, add).as_deref(),
            Ok(r#"{"items":2,"total_cents":300}"#)
        );
        let add = r#"{"op":"add","sku":"a-1","qty":1,"price_cents":99}"#;
        assert_eq!(
            call(&mut cart, add).as_deref(),
            Ok(r#"{"items":3,"total_cents":399}"#)
        );
        assert_eq!(
            call(&mut cart, r#"{"op":"list"}"#).as_deref(),
            Ok(
                r#"{"items":[{"sku":"a-1","qty":1,"price_cents":99},{"sku":"b-2","qty":2,"price_cents":150}]}"#
            )
        );
        let remove_one = r#"{"op":"remove","sku":"b-2","qty":1}"#;
        assert_eq!(
            call(&mut cart, remove_one).as_deref(),
            Ok(r#"{"items":2,"total_cents":249}"#)
        );
        let remove_all = r#"{"op":"remove","sku":"b-2"}"#;
        assert_eq!(
            call(&mut cart, remove_all).as_deref(),
            Ok(r#"{"items":1,"total_cents":99}"#)
        );
        assert_eq!(
            call(&mut cart, remove_all),
            Err("no such item: b-2".to_owned())
        );
        assert_eq!(
            call(&mut cart, r#"{"op":"total"}"#).as_deref(),
            Ok(r#"{"items":1,"total_cents":99}"#)
        );
        assert_eq!(
            call(&mut cart, r#"{"op":"clear"}"#).as_deref(),
            Ok(r#"{"items":0,"total_cents":0}"#)
        );
        assert_eq!(testing::take().published.len(), 5, "one event per change");
    }

    #[test]
    fn validation() {
        let mut cart = Cart::init(IgnoredAny).expect("init");
        let zero = r#"{"op":"add","sku":"a","qty":0,"price_cents":1}"#;
        assert_eq!(
            call(&mut cart, zero),
            Err("qty must be at least 1".to_owned())
        );
        let negative = r#"{"op":"add","sku":"a","qty":1,"price_cents":-1}"#;
        assert_eq!(
            call(&mut cart, negative),
            Err("price_cents must not be negative".to_owned())
        );
        let huge = format!(
            r#"{{"op":"add","sku":"a","qty":2,"price_cents":{}}}"#,
            i64::MAX
        );
        assert_eq!(call(&mut cart, &huge), Err("total overflows".to_owned()));
        assert!(cart.lines.is_empty(), "an overflowing add is undone");
        cart.handle_cast(Json::decode(zero.as_bytes()).expect("cast"));
        let rec = testing::take();
        assert!(rec.published.is_empty());
        assert_eq!(
            rec.logs,
            vec![(
                ctx::Level::Warn,
                "add refused: qty must be at least 1".to_owned()
            )]
        );
    }
}
