//! Just enough JSON for the counter's protocol, without serde or `core::fmt`:
//! a validating scanner that accepts one JSON object, picks out a few keys
//! and skips everything else, and a formatter for `{"value":v}`.
//!
//! The scanner accepts and rejects what `serde_json` does for the `counter`
//! guest's serde types (checked by a differential test below): whitespace and
//! key order are free, unknown keys are ignored but must be valid JSON, keys
//! and strings may use escapes (`"\u006fp"` is `"op"`), a key of interest may
//! appear once, integers must fit an `i64` and `-0` or `1.0` are not integers.
//! Like serde's internally tagged enums, calls and casts check every string
//! (UTF-8, paired surrogate escapes); like serde's plain structs, init args
//! and snapshots only check the syntax of values they ignore. Nesting is
//! limited to 127 containers, serde_json's limit.
//!
//! Known differences, all on inputs no client sends: serde also accepts the
//! array forms of structs and tagged enums (`[5]` as init args), ignored
//! values nested deeper than 127 in init args and snapshots, and it rejects
//! ignored numbers in calls and casts that overflow an `f64` (`1e999`).

use alloc::vec::Vec;

/// A call: what `handle-call` is asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Call {
    /// `{"op":"get"}`: reply with the value.
    Get,
    /// `{"op":"incr","by":n}`: add `n` (1 when absent or null).
    Incr(i64),
}

/// Parses a call. `None` when it is not one.
pub(crate) fn call(message: &[u8]) -> Option<Call> {
    let [op, by] = object(message, [b"op", b"by"], true)?;
    let Field::Str(op) = op else { return None };
    if unescaped_eq(op, b"get") {
        Some(Call::Get)
    } else if unescaped_eq(op, b"incr") {
        increment(by).map(Call::Incr)
    } else {
        None
    }
}

/// Parses a cast, whose only kind is `{"op":"incr","by":n}`: returns how much
/// to add. `None` when it is not one.
pub(crate) fn cast(message: &[u8]) -> Option<i64> {
    match object(message, [b"op", b"by"], true)? {
        [Field::Str(op), by] if unescaped_eq(op, b"incr") => increment(by),
        _ => None,
    }
}

/// Parses init args: none at all or `null` start at 0, else `{"start":n}`.
pub(crate) fn args(args: &[u8]) -> Option<i64> {
    if args.is_empty() {
        return Some(0);
    }
    let mut scanner = Scanner::new(args, false);
    if scanner.skip_ws() == Some(b'n') {
        scanner.pos += 1;
        scanner.literal(b"ull")?;
        return scanner.skip_ws().is_none().then_some(0);
    }
    int_field(args, b"start")
}

/// Parses a snapshot, `{"value":v}`: the counter guest's format, so either
/// guest can restore the other's snapshots.
pub(crate) fn snapshot(state: &[u8]) -> Option<i64> {
    int_field(state, b"value")
}

/// `{"value":v}`: the reply to every call, every published event, and the
/// snapshot.
pub(crate) fn value_object(value: i64) -> Vec<u8> {
    const HEAD: &[u8] = b"{\"value\":";
    let mut digits = [0; 20];
    let digits = itoa(value, &mut digits);
    let mut out = Vec::with_capacity(HEAD.len() + digits.len() + 1);
    out.extend_from_slice(HEAD);
    out.extend_from_slice(digits);
    out.push(b'}');
    out
}

/// Writes `value` in decimal at the end of `buf` and returns those bytes.
/// 20 bytes hold any `i64`: `-9223372036854775808`.
pub(crate) fn itoa(value: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut n = value.unsigned_abs();
    let mut start = buf.len();
    for slot in buf.iter_mut().rev() {
        // The remainder is a single digit, so the cast cannot truncate.
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
        start -= 1;
        if n == 0 {
            break;
        }
    }
    if value < 0 {
        start -= 1;
        if let Some(slot) = buf.get_mut(start) {
            *slot = b'-';
        }
    }
    buf.get(start..).unwrap_or_default()
}

/// The `by` of an increment: absent or `null` mean 1.
fn increment(by: Field<'_>) -> Option<i64> {
    match by {
        Field::Absent | Field::Null => Some(1),
        Field::Int(by) => Some(by),
        _ => None,
    }
}

/// Parses an object whose key `key` is a required integer (a plain struct).
fn int_field(input: &[u8], key: &[u8]) -> Option<i64> {
    match object(input, [key], false)? {
        [Field::Int(n)] => Some(n),
        _ => None,
    }
}

/// What the value of a key of interest was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field<'a> {
    /// The key was not there.
    Absent,
    /// The key was there more than once.
    Duplicate,
    /// `null`.
    Null,
    /// An integer that fits an `i64` (not `-0`, not `1.0`, not `1e2`).
    Int(i64),
    /// A string: its raw bytes between the quotes, escapes not decoded.
    Str(&'a [u8]),
    /// Any other JSON value.
    Other,
}

/// The most containers that may be open at once, the outer object included.
const MAX_DEPTH: u32 = 127;

/// Scans `input`, which must be one JSON object and nothing else but
/// whitespace, and returns the values of `keys` in the same order. `strict`
/// checks every string as UTF-8 text; otherwise the strings of ignored values
/// are only checked for JSON syntax (keys of the object are always checked).
fn object<'a, const N: usize>(
    input: &'a [u8],
    keys: [&[u8]; N],
    strict: bool,
) -> Option<[Field<'a>; N]> {
    let mut fields = [Field::Absent; N];
    let mut scanner = Scanner::new(input, strict);
    scanner.expect_after_ws(b'{')?;
    if scanner.skip_ws() == Some(b'}') {
        scanner.pos += 1;
    } else {
        loop {
            scanner.expect_after_ws(b'"')?;
            let key = scanner.string(true)?;
            scanner.expect_after_ws(b':')?;
            let value = scanner.value()?;
            let wanted = keys.iter().position(|k| unescaped_eq(key, k));
            if let Some(field) = wanted.and_then(|i| fields.get_mut(i)) {
                *field = match field {
                    Field::Absent => value,
                    _ => Field::Duplicate,
                };
            }
            match scanner.skip_ws()? {
                b',' => scanner.pos += 1,
                b'}' => {
                    scanner.pos += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    scanner.skip_ws().is_none().then_some(fields)
}

/// Whether the raw (validated, still escaped) string `raw` decodes to the
/// ASCII text `want`.
fn unescaped_eq(raw: &[u8], want: &[u8]) -> bool {
    let mut raw = raw.iter().copied();
    let mut want = want.iter().copied();
    while let Some(byte) = raw.next() {
        let byte = if byte == b'\\' {
            match raw.next() {
                Some(b'b') => 0x08,
                Some(b'f') => 0x0c,
                Some(b'n') => b'\n',
                Some(b'r') => b'\r',
                Some(b't') => b'\t',
                Some(b'u') => match hex4(&mut raw).and_then(|n| u8::try_from(n).ok()) {
                    Some(ascii) if ascii.is_ascii() => ascii,
                    _ => return false,
                },
                Some(other) => other, // `"`, `\` and `/` stand for themselves.
                None => return false,
            }
        } else {
            byte
        };
        if want.next() != Some(byte) {
            return false;
        }
    }
    want.next().is_none()
}

/// Reads four hex digits, the code unit of a `\u` escape.
fn hex4(bytes: &mut impl Iterator<Item = u8>) -> Option<u32> {
    let mut n = 0;
    for _ in 0..4 {
        n = (n << 4) | char::from(bytes.next()?).to_digit(16)?;
    }
    Some(n)
}

/// A cursor over JSON text.
struct Scanner<'a> {
    /// The whole input.
    input: &'a [u8],
    /// Index of the next byte.
    pos: usize,
    /// Whether ignored strings are checked as text too (see [`object`]).
    strict: bool,
}

impl<'a> Iterator for Scanner<'a> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let byte = self.input.get(self.pos).copied()?;
        self.pos += 1;
        Some(byte)
    }
}

impl<'a> Scanner<'a> {
    /// A scanner at the start of `input`.
    fn new(input: &'a [u8], strict: bool) -> Self {
        Scanner {
            input,
            pos: 0,
            strict,
        }
    }

    /// Skips whitespace; returns the next byte without consuming it.
    fn skip_ws(&mut self) -> Option<u8> {
        while let Some(&byte) = self.input.get(self.pos) {
            if !matches!(byte, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(byte);
            }
            self.pos += 1;
        }
        None
    }

    /// Skips whitespace, then consumes `byte` or fails.
    fn expect_after_ws(&mut self, byte: u8) -> Option<()> {
        self.skip_ws()?;
        self.expect(byte)
    }

    /// Consumes `byte` or fails.
    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    /// Consumes the rest of a literal (`null`, `true`, `false`).
    fn literal(&mut self, rest: &[u8]) -> Option<()> {
        rest.iter().try_for_each(|&byte| self.expect(byte))
    }

    /// Scans one value inside the top-level object (whitespace first).
    fn value(&mut self) -> Option<Field<'a>> {
        if matches!(self.skip_ws()?, b'[' | b'{') {
            self.skip_containers().map(|()| Field::Other)
        } else {
            self.scalar()
        }
    }

    /// Scans a value that is not an array or an object.
    fn scalar(&mut self) -> Option<Field<'a>> {
        match self.next()? {
            b'n' => self.literal(b"ull").map(|()| Field::Null),
            b't' => self.literal(b"rue").map(|()| Field::Other),
            b'f' => self.literal(b"alse").map(|()| Field::Other),
            b'"' => self.string(self.strict).map(Field::Str),
            b'-' => self.number(true),
            b'0'..=b'9' => {
                self.pos -= 1;
                self.number(false)
            }
            _ => None,
        }
    }

    /// Skips the array or object at the cursor, nested in the top-level
    /// object, without recursion: one bit per open container says whether
    /// it is an object.
    fn skip_containers(&mut self) -> Option<()> {
        let mut objects: u128 = 0;
        let mut open: u32 = 0;
        loop {
            // A value is expected here.
            let byte = self.skip_ws()?;
            let mut value_done = true;
            if byte == b'[' || byte == b'{' {
                self.pos += 1;
                // The top-level object counts as one.
                if open + 1 >= MAX_DEPTH {
                    return None;
                }
                open += 1;
                let is_object = byte == b'{';
                objects = (objects << 1) | u128::from(is_object);
                let close = if is_object { b'}' } else { b']' };
                if self.skip_ws()? == close {
                    self.pos += 1;
                    open -= 1;
                    objects >>= 1;
                } else {
                    if is_object {
                        self.key()?;
                    }
                    value_done = false;
                }
            } else {
                self.scalar()?;
            }
            // After a value: close containers until a comma or the end.
            while value_done {
                if open == 0 {
                    return Some(());
                }
                let is_object = objects & 1 == 1;
                match self.skip_ws()? {
                    b',' => {
                        self.pos += 1;
                        if is_object {
                            self.key()?;
                        }
                        value_done = false;
                    }
                    b'}' if is_object => {}
                    b']' if !is_object => {}
                    _ => return None,
                }
                if value_done {
                    self.pos += 1;
                    open -= 1;
                    objects >>= 1;
                }
            }
        }
    }

    /// Scans `"key":` inside a nested object.
    fn key(&mut self) -> Option<()> {
        self.expect_after_ws(b'"')?;
        self.string(self.strict)?;
        self.expect_after_ws(b':')
    }

    /// Scans the rest of a number (after its `-`, if any). Returns an
    /// [`Field::Int`] for an integer in `i64` range, [`Field::Other`] for any
    /// other number, as serde_json does (`-0` is a float there).
    fn number(&mut self, negative: bool) -> Option<Field<'a>> {
        let first = self.next()?;
        if !first.is_ascii_digit() {
            return None;
        }
        let mut magnitude = Some(u64::from(first - b'0'));
        // A leading 0 is a whole integer part ("01" fails later, as a
        // missing comma).
        if first != b'0' {
            while let Some(digit @ b'0'..=b'9') = self.input.get(self.pos).copied() {
                self.pos += 1;
                magnitude = magnitude
                    .and_then(|m| m.checked_mul(10))
                    .and_then(|m| m.checked_add(u64::from(digit - b'0')));
            }
        }
        let mut integer = true;
        if self.input.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            self.digits()?;
            integer = false;
        }
        if matches!(self.input.get(self.pos), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.input.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            self.digits()?;
            integer = false;
        }
        let value = match magnitude {
            Some(m) if integer && !negative => i64::try_from(m).ok(),
            Some(m) if integer && m != 0 => 0_i64.checked_sub_unsigned(m),
            _ => None,
        };
        Some(value.map_or(Field::Other, Field::Int))
    }

    /// Consumes one or more digits.
    fn digits(&mut self) -> Option<()> {
        let start = self.pos;
        while self.input.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        (self.pos > start).then_some(())
    }

    /// Scans the rest of a string (after its opening quote) and returns its
    /// raw contents. `text` also checks that it is valid UTF-8 text: no
    /// invalid byte sequence, no unpaired surrogate escape.
    fn string(&mut self, text: bool) -> Option<&'a [u8]> {
        let start = self.pos;
        loop {
            match self.next()? {
                b'"' => return self.input.get(start..self.pos - 1),
                b'\\' => self.escape(text)?,
                0..=0x1f => return None,
                lead @ 0x80.. if text => self.utf8_tail(lead)?,
                _ => {}
            }
        }
    }

    /// Scans the rest of an escape (after its `\`).
    fn escape(&mut self, text: bool) -> Option<()> {
        match self.next()? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(()),
            b'u' => match hex4(self)? {
                0xdc00..=0xdfff if text => None,
                0xd800..=0xdbff if text => {
                    self.expect(b'\\')?;
                    self.expect(b'u')?;
                    matches!(hex4(self)?, 0xdc00..=0xdfff).then_some(())
                }
                _ => Some(()),
            },
            _ => None,
        }
    }

    /// Scans the continuation bytes of a UTF-8 sequence that starts with
    /// `lead` (≥ 0x80), rejecting what `str::from_utf8` rejects: stray
    /// continuation bytes, overlong forms, surrogates, code points past
    /// U+10FFFF.
    fn utf8_tail(&mut self, lead: u8) -> Option<()> {
        let (more, low, high) = match lead {
            0xc2..=0xdf => (0, 0x80, 0xbf),
            0xe0 => (1, 0xa0, 0xbf),
            0xed => (1, 0x80, 0x9f),
            0xe1..=0xef => (1, 0x80, 0xbf),
            0xf0 => (2, 0x90, 0xbf),
            0xf1..=0xf3 => (2, 0x80, 0xbf),
            0xf4 => (2, 0x80, 0x8f),
            _ => return None,
        };
        if !(low..=high).contains(&self.next()?) {
            return None;
        }
        for _ in 0..more {
            if !(0x80..=0xbf).contains(&self.next()?) {
                return None;
            }
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    //! The scanner against hand-picked inputs, and against `serde_json` with
    //! the `counter` guest's own types on many generated inputs.

    use super::*;
    use serde::Deserialize;

    /// The `counter` guest's call type.
    #[derive(Debug, Deserialize)]
    #[serde(tag = "op", rename_all = "snake_case")]
    enum SerdeCall {
        Incr { by: Option<i64> },
        Get,
    }

    /// The `counter` guest's cast type.
    #[derive(Debug, Deserialize)]
    #[serde(tag = "op", rename_all = "snake_case")]
    enum SerdeCast {
        Incr { by: Option<i64> },
    }

    /// The `counter` guest's init args.
    #[derive(Debug, Deserialize)]
    struct SerdeArgs {
        start: i64,
    }

    /// The `counter` guest's state, its snapshot.
    #[derive(Debug, Deserialize)]
    struct SerdeCounter {
        value: i64,
    }

    /// Decodes like the SDK's `Json` codec: empty input is `null`. `Err`
    /// holds serde's message.
    fn serde<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
        let bytes: &[u8] = if bytes.is_empty() { b"null" } else { bytes };
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }

    /// Whether `serde` rejected the input for a documented difference.
    fn known_difference(input: &[u8], serde_error: &Result<impl Sized, String>) -> bool {
        let array = input
            .iter()
            .find(|b| !b" \n\r\t".contains(b))
            .is_some_and(|&b| b == b'[');
        let float_range = serde_error
            .as_ref()
            .err()
            .is_some_and(|e| e.contains("number out of range"));
        array || float_range
    }

    /// Checks all four parsers on `input` against serde.
    fn same_as_serde(input: &[u8]) {
        let shown = String::from_utf8_lossy(input);
        let expected = serde::<SerdeCall>(input);
        if !known_difference(input, &expected) {
            let expected = expected.map(|c| match c {
                SerdeCall::Get => Call::Get,
                SerdeCall::Incr { by } => Call::Incr(by.unwrap_or(1)),
            });
            assert_eq!(call(input), expected.ok(), "call {shown}");
        }
        let expected = serde::<SerdeCast>(input);
        if !known_difference(input, &expected) {
            let expected = expected.map(|SerdeCast::Incr { by }| by.unwrap_or(1));
            assert_eq!(cast(input), expected.ok(), "cast {shown}");
        }
        let expected = serde::<Option<SerdeArgs>>(input);
        if !known_difference(input, &expected) {
            let expected = expected.map(|a| a.map_or(0, |a| a.start));
            assert_eq!(args(input), expected.ok(), "args {shown}");
        }
        let expected = serde::<SerdeCounter>(input);
        if !known_difference(input, &expected) {
            assert_eq!(
                snapshot(input),
                expected.ok().map(|c| c.value),
                "snapshot {shown}"
            );
        }
    }

    /// Hand-picked inputs, valid and not.
    const CASES: &[&str] = &[
        r#"{"op":"get"}"#,
        r#"{"op":"incr"}"#,
        r#"{"op":"incr","by":5}"#,
        r#"{"by":-5,"op":"incr"}"#,
        r#" { "op" : "incr" , "by" : 7 } "#,
        "\t{\n\"op\":\r\"incr\"}\n",
        r#"{"op":"incr","by":null}"#,
        r#"{"op":"incr","by":9223372036854775807}"#,
        r#"{"op":"incr","by":9223372036854775808}"#,
        r#"{"op":"incr","by":-9223372036854775808}"#,
        r#"{"op":"incr","by":-9223372036854775809}"#,
        r#"{"op":"incr","by":18446744073709551616}"#,
        r#"{"op":"incr","by":-0}"#,
        r#"{"op":"incr","by":0}"#,
        r#"{"op":"incr","by":1.0}"#,
        r#"{"op":"incr","by":1e2}"#,
        r#"{"op":"incr","by":01}"#,
        r#"{"op":"incr","by":-}"#,
        r#"{"op":"incr","by":"1"}"#,
        r#"{"op":"incr","by":[1]}"#,
        r#"{"op":"get","by":"x"}"#,
        r#"{"op":"get","by":1,"by":2}"#,
        r#"{"op":"incr","by":1,"by":2}"#,
        r#"{"op":"get","op":"get"}"#,
        r#"{"op":"nope"}"#,
        r#"{"op":"GET"}"#,
        r#"{"op":0}"#,
        r#"{"op":null}"#,
        r#"{"by":1}"#,
        r#"{}"#,
        r#"{ }"#,
        r#"{"op":"get",}"#,
        r#"{"op":"get"} x"#,
        r#"{"op":"get"}{}"#,
        r#"{"op""get"}"#,
        r#"{"op":"get""#,
        r#"{"\u006fp":"g\u0065t"}"#,
        r#"{"o\p":"get"}"#,
        r#"{"op":"incr","x":{"a":[1,{"b":null},true,false,"s\n\"\\\/\b\f\r\t\u00e9"],"c":{}},"y":[]}"#,
        r#"{"op":"get","x":[1,]}"#,
        r#"{"op":"get","x":{"a"}}"#,
        r#"{"op":"get","x":{"a":1,}}"#,
        r#"{"op":"get","x":[1 2]}"#,
        r#"{"op":"get","x":tru}"#,
        r#"{"op":"get","x":nul}"#,
        r#"{"op":"get","x":"\ud83d\ude00"}"#,
        r#"{"op":"get","x":"\ud83d"}"#,
        r#"{"op":"get","x":"\ude00"}"#,
        r#"{"op":"get","x":"\ud83dx"}"#,
        r#"{"op":"get","x":"\ud83d\n"}"#,
        r#"{"op":"get","x":"\ud83d\u0041"}"#,
        r#"{"op":"get","x":"\uZZZZ"}"#,
        r#"{"op":"get","x":"\x"}"#,
        "{\"op\":\"get\",\"x\":\"tab\there\"}",
        "{\"op\":\"get\",\"x\":\"é😀\"}",
        r#"{"op":"get","x":1e999}"#,
        r#"{"op":"get","x":-1.5e-3}"#,
        r#"{"op":"get","x":1.}"#,
        r#"{"op":"get","x":.5}"#,
        r#"{"op":"get","x":+1}"#,
        r#"{"op":"get","x":1e}"#,
        r#"{"op":"get","x":1e+}"#,
        r#"{"op":"get","x":-01}"#,
        r#"{"start":5}"#,
        r#"{"start":-5,"other":[1,2,{"x":"\ud800"}]}"#,
        r#"{"start":5,"start":6}"#,
        r#"{"start":null}"#,
        r#"{"start":"5"}"#,
        r#"{"start":5.5}"#,
        r#"{"value":42}"#,
        r#"{"value":42,"extra":true}"#,
        r#"{"value":-9223372036854775808}"#,
        "null",
        " null ",
        "nul",
        "nulll",
        "null x",
        "",
        " ",
        "{",
        "}",
        "[]",
        "[5]",
        "5",
        r#""get""#,
    ];

    #[test]
    fn hand_picked_inputs_match_serde() {
        for case in CASES {
            same_as_serde(case.as_bytes());
        }
        // Invalid UTF-8, in a key, a value of interest and an ignored value.
        for bad in [
            &b"\xff"[..],
            b"\xc3",
            b"\xc3(",
            b"\xe0\x80\x80",
            b"\xed\xa0\x80",
            b"\xf4\x90\x80\x80",
        ] {
            for (head, tail) in [
                (&b"{\"op\":\"get\",\""[..], &b"\":1}"[..]),
                (b"{\"op\":\"get\",\"x\":\"", b"\"}"),
                (b"{\"op\":\"", b"\"}"),
                (b"{\"start\":1,\"x\":\"", b"\"}"),
                (b"{\"start\":1,\"x\":[{\"", b"\":2}]}"),
            ] {
                same_as_serde(&[head, bad, tail].concat());
            }
        }
    }

    #[test]
    fn nesting_limit_matches_serde() {
        for depth in [120, 125, 126, 127, 130] {
            let mut input = String::from(r#"{"op":"get","x":"#);
            input.extend(std::iter::repeat_n('[', depth));
            input.extend(std::iter::repeat_n(']', depth));
            input.push('}');
            assert_eq!(
                call(input.as_bytes()).is_some(),
                serde::<SerdeCall>(input.as_bytes()).is_ok(),
                "depth {depth}"
            );
            let objects = input.replace('[', r#"{"k":"#).replace(']', "}");
            assert_eq!(
                call(objects.as_bytes()).is_some(),
                serde::<SerdeCall>(objects.as_bytes()).is_ok(),
                "object depth {depth}"
            );
        }
    }

    /// Random edits of the hand-picked inputs (a fixed xorshift sequence,
    /// so failures are reproducible).
    #[test]
    fn mutated_inputs_match_serde() {
        const ALPHABET: &[u8] =
            b"{}[]\":,\\/ \n0123456789-+.eEnulltrfasopgcbyix\x01\x7f\xc3\xa9\xed\xa0\x80\xf0\xff";
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut random = move |below: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % below as u64).expect("fits")
        };
        for _ in 0..60_000 {
            let mut input = CASES[random(CASES.len())].as_bytes().to_vec();
            for _ in 0..=random(3) {
                let at = random(input.len() + 1);
                let byte = ALPHABET[random(ALPHABET.len())];
                match random(3) {
                    0 => input.insert(at, byte),
                    1 if at < input.len() => {
                        input.remove(at);
                    }
                    _ if at < input.len() => input[at] = byte,
                    _ => input.push(byte),
                }
            }
            same_as_serde(&input);
        }
    }

    #[test]
    fn known_differences() {
        // serde accepts a struct as an array; the scanner wants an object.
        assert!(serde::<Option<SerdeArgs>>(b"[5]").is_ok());
        assert_eq!(args(b"[5]"), None);
        // serde buffers a tagged enum's values, and rejects floats it cannot
        // hold; the scanner only checks their syntax.
        assert!(serde::<SerdeCall>(br#"{"op":"get","x":1e999}"#).is_err());
        assert_eq!(call(br#"{"op":"get","x":1e999}"#), Some(Call::Get));
    }

    #[test]
    fn parses_the_protocol() {
        assert_eq!(call(br#"{"op":"get"}"#), Some(Call::Get));
        assert_eq!(call(br#"{"by":-3,"op":"incr"}"#), Some(Call::Incr(-3)));
        assert_eq!(call(br#"{"op":"incr"}"#), Some(Call::Incr(1)));
        assert_eq!(call(b""), None);
        assert_eq!(cast(br#"{"op":"incr","by":10}"#), Some(10));
        assert_eq!(cast(br#"{"op":"get"}"#), None);
        assert_eq!(args(b""), Some(0));
        assert_eq!(args(b"null"), Some(0));
        assert_eq!(
            args(br#"{"start":9223372036854775806}"#),
            Some(i64::MAX - 1)
        );
        assert_eq!(args(b"{}"), None);
        assert_eq!(snapshot(br#"{"value":-4}"#), Some(-4));
        assert_eq!(snapshot(b""), None);
        assert_eq!(snapshot(b"\x01\x02"), None);
    }

    #[test]
    fn formats_values_like_serde() {
        for value in [
            0,
            1,
            -1,
            9,
            10,
            -10,
            12345,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
        ] {
            let serde = serde_json::to_vec(&serde_json::json!({ "value": value })).expect("json");
            assert_eq!(value_object(value), serde, "{value}");
            assert_eq!(snapshot(&value_object(value)), Some(value));
            let mut buf = [0; 20];
            assert_eq!(itoa(value, &mut buf), value.to_string().as_bytes());
        }
    }
}
