//! The counter guest in Zig: the same JSON protocol and snapshot format as the Rust
//! `counter` (example-guests/counter), so sessions and snapshots move between them.
//!
//! - init args `{"start": n}`, or none to start at 0;
//! - call `{"op":"incr","by":n}` (`by` defaults to 1) and `{"op":"get"}` reply `{"value":v}`;
//! - cast `{"op":"incr","by":n}`;
//! - every increment publishes `{"value":v}`; one that would overflow is refused (a call
//!   gets an error, a cast logs a warning);
//! - snapshot and restore use `{"value":v}`.
//!
//! One instance serves one session, one message at a time: the state is a container-level
//! variable. Messages are read with the SDK's `sh.json` (a flat-object scanner, no
//! allocation). Build: `make guest-zig` (see
//! docs/languages/zig.md).

const std = @import("std");
const sh = @import("sessionhost");

comptime {
    sh.exportSession(Counter);
}

/// Panics go to the host's log, then end the session like any trap.
pub const panic = sh.panic;

const Counter = struct {
    /// The state of this session.
    var value: i64 = 0;

    pub fn init(args: []const u8, err: *sh.Buf) !void {
        value = 0;
        if (args.len == 0) return;
        value = try sh.json.int(args, "start") orelse
            return sh.fail(err, "invalid init args: expected {\"start\": n}");
    }

    pub fn handleCall(request: []const u8, out: *sh.Buf) !void {
        switch (parse(request) catch |e| return invalid(out, "invalid call message", e)) {
            .incr => |by| try incr(by, out),
            .get => {},
        }
        try out.print("{{\"value\":{d}}}", .{value});
    }

    pub fn handleCast(message: []const u8) void {
        const by = switch (parse(message) catch |e|
            return sh.logf(.warn, "invalid cast message: {s}", .{@errorName(e)})) {
            .incr => |by| by,
            .get => return sh.log(.warn, "invalid cast message: only incr is a cast"),
        };
        var err: sh.Buf = .{};
        defer err.deinit();
        incr(by, &err) catch sh.log(.warn, err.slice());
    }

    pub fn snapshot(out: *sh.Buf) bool {
        out.print("{{\"value\":{d}}}", .{value}) catch return false;
        return true;
    }

    pub fn restore(state: []const u8, from_version: []const u8, err: *sh.Buf) !void {
        _ = from_version; // one snapshot format so far
        value = sh.json.int(state, "value") catch null orelse
            return sh.fail(err, "invalid snapshot: expected {\"value\": n}");
    }

    /// Adds `by` and publishes the new value; an overflow fails with a message in `err`.
    fn incr(by: i64, err: *sh.Buf) sh.Error!void {
        value = std.math.add(i64, value, by) catch {
            err.clear();
            err.print("overflow adding {d}", .{by}) catch {};
            return error.Failed;
        };
        // Publishing is best effort: a refused event must not fail the call.
        var event: [32]u8 = undefined;
        sh.publish(std.fmt.bufPrint(&event, "{{\"value\":{d}}}", .{value}) catch unreachable) catch {};
    }
};

/// A call or cast message.
const Message = union(enum) {
    /// `{"op":"incr","by":n}`, `by` defaulting to 1.
    incr: i64,
    /// `{"op":"get"}`.
    get,
};

/// Reads a message.
fn parse(bytes: []const u8) error{ InvalidJson, UnknownOp }!Message {
    const op = try sh.json.string(bytes, "op") orelse return error.UnknownOp;
    if (std.mem.eql(u8, op, "get")) return .get;
    if (std.mem.eql(u8, op, "incr")) return .{ .incr = try sh.json.int(bytes, "by") orelse 1 };
    return error.UnknownOp;
}

/// Writes `what: <error name>` into `out` and fails.
fn invalid(out: *sh.Buf, what: []const u8, e: anyerror) sh.Error {
    out.clear();
    out.print("{s}: {s}", .{ what, @errorName(e) }) catch {};
    return error.Failed;
}
