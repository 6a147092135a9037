//! sessionhost.zig - write sessionhost session guests in Zig.
//!
//! A guest is one WebAssembly component instance per user session; the host delivers the
//! session's messages one at a time, so the state lives in a plain global. Write a struct
//! type with the callbacks below and export it:
//!
//! ```zig
//! const sh = @import("sessionhost");
//! comptime { sh.exportSession(Counter); }
//! ```
//!
//! `exportSession` checks the callbacks' signatures at compile time and exports them under
//! the names the C SDK (guest-sdk/c/sessionhost.c) expects; the C SDK, compiled into the
//! same module, implements the WIT world `session-guest` over the `wit-bindgen c` bindings.
//! So Zig and C guests share one binding layer, and this file only adapts types: slices
//! instead of pointer + length, error unions instead of status codes.
//!
//! Ownership: input slices are valid only during the callback (copy what you keep); output
//! goes into the `*Buf` you are handed, which the SDK frees after the host has read it.

const std = @import("std");

/// A growable byte buffer owned by the C SDK (malloc'ed): replies, errors, snapshots.
pub const Buf = extern struct {
    ptr: ?[*]u8 = null,
    len: usize = 0,
    cap: usize = 0,

    /// The bytes written so far.
    pub fn slice(self: *const Buf) []const u8 {
        return if (self.ptr) |p| p[0..self.len] else &.{};
    }

    /// Appends `bytes`.
    pub fn write(self: *Buf, bytes: []const u8) error{OutOfMemory}!void {
        if (!sh_buf_write(self, bytes.ptr, bytes.len)) return error.OutOfMemory;
    }

    /// Appends `std.fmt` output, e.g. `try out.print("{{\"value\":{d}}}", .{v})`.
    pub fn print(self: *Buf, comptime fmt: []const u8, args: anytype) error{OutOfMemory}!void {
        // Format into the spare capacity, growing until it fits (std.fmt.count would link
        // std.Io's file machinery, and with it WASI file imports).
        var room: usize = 32;
        while (true) : (room *= 2) {
            if (!sh_buf_reserve(self, room)) return error.OutOfMemory;
            const spare = self.ptr.?[self.len..self.cap];
            const written = std.fmt.bufPrint(spare, fmt, args) catch continue;
            self.len += written.len;
            return;
        }
    }

    /// Empties the buffer, keeping its memory.
    pub fn clear(self: *Buf) void {
        self.len = 0;
    }

    /// Frees a buffer you made yourself (`var b: Buf = .{}`); never one the SDK gave you.
    pub fn deinit(self: *Buf) void {
        sh_buf_free(self);
    }
};

/// The error a callback returns after writing its message with `fail`.
pub const Error = error{Failed};

/// Replaces the contents of `out` with `message` and returns `error.Failed`:
/// `return sh.fail(out, "invalid call message: unknown op");`
pub fn fail(out: *Buf, message: []const u8) Error {
    out.clear();
    out.write(message) catch {};
    return error.Failed;
}

/// Why the session ends (the WIT `stop-reason`); `detail` is the text of `requested` and
/// `killed` (empty otherwise).
pub const StopReason = struct {
    kind: Kind,
    detail: []const u8,

    pub const Kind = enum(c_int) {
        normal = 0,
        requested = 1,
        idle_timeout = 2,
        shutdown = 3,
        killed = 4,
        limit = 5,
        crashed = 6,
        upgrade = 7,
    };
};

/// Severity of a log line, mapped onto the host's levels.
pub const Level = enum(c_int) { trace = 0, debug = 1, info = 2, warn = 3, err = 4 };

/// Writes a line to the host's log, tagged with the session ID and the guest's name.
pub fn log(level: Level, message: []const u8) void {
    sh_log_n(level, message.ptr, message.len);
}

/// `log` with `std.fmt` formatting; lines longer than 1 KiB are cut.
pub fn logf(level: Level, comptime fmt: []const u8, args: anytype) void {
    var line: [1024]u8 = undefined;
    const text = std.fmt.bufPrint(&line, fmt, args) catch line[0..];
    log(level, text);
}

/// Wall-clock milliseconds since the Unix epoch.
pub fn nowMs() u64 {
    return sh_now_ms();
}

/// Copies this session's ID into `out` and returns it (cut to `out.len`). IDs are 22+
/// characters and may be rotated by the application, so don't cache them.
pub fn sessionId(out: []u8) []const u8 {
    var scratch: [128]u8 = undefined;
    const n = sh_session_id(&scratch, scratch.len);
    const len = @min(n, scratch.len - 1, out.len);
    @memcpy(out[0..len], scratch[0..len]);
    return out[0..len];
}

/// Sends `event` to every subscriber of this session; `error.Refused` when it is larger
/// than the host allows.
pub fn publish(event: []const u8) error{Refused}!void {
    if (!sh_publish(event.ptr, event.len)) return error.Refused;
}

/// Delivers `message` to `handleCast` after `delay_ms`; returns the timer's ID, or
/// `error.Refused` when the session has as many pending timers as the host allows.
pub fn sendAfter(message: []const u8, delay_ms: u64) error{Refused}!u64 {
    var id: u64 = 0;
    if (!sh_send_after(message.ptr, message.len, delay_ms, &id)) return error.Refused;
    return id;
}

/// Cancels a timer; false when it already fired, was cancelled or never existed.
pub fn cancelTimer(id: u64) bool {
    return sh_cancel_timer(id);
}

/// Ends this session once the current message has been handled; `terminate` then gets
/// `.requested` with `reason`.
pub fn stop(reason: []const u8) void {
    sh_stop_n(reason.ptr, reason.len);
}

/// Members of a flat JSON object, read by the C SDK's scanner (sh_json.c): no allocation
/// and no float tables, so a guest stays small. Each call checks the whole text is one
/// well-formed object; member names are compared as written; `null` counts as absent.
/// `std.json` works too when messages are nested, at ~33 KB more code and ~10 KB more data
/// copied into every session (measured on the counter).
pub const json = struct {
    /// Member `key` as an integer: null when absent, `error.InvalidJson` when the text is
    /// not an object or the member is not an integer that fits an i64.
    pub fn int(bytes: []const u8, key: [:0]const u8) error{InvalidJson}!?i64 {
        var n: i64 = 0;
        return switch (sh_json_i64(bytes.ptr, bytes.len, key.ptr, &n)) {
            .found => n,
            .missing => null,
            .invalid => error.InvalidJson,
        };
    }

    /// Member `key` as a string, raw (escapes left as written; a slice of `bytes`).
    pub fn string(bytes: []const u8, key: [:0]const u8) error{InvalidJson}!?[]const u8 {
        var ptr: [*]const u8 = undefined;
        var len: usize = 0;
        return switch (sh_json_str(bytes.ptr, bytes.len, key.ptr, &ptr, &len)) {
            .found => ptr[0..len],
            .missing => null,
            .invalid => error.InvalidJson,
        };
    }

    /// What the C lookups return (`sh_json`).
    const Found = enum(c_int) { invalid = -1, missing = 0, found = 1 };
};

/// A panic handler that writes the message to the host's log (level error) and traps, so a
/// panic shows up in the host's log and ends the session like any trap. Use it in the root
/// file: `pub const panic = sh.panic;` (Zig's default handler would try to read debug
/// information through WASI files, which a session is never granted).
pub const panic = std.debug.FullPanic(panicLog);

fn panicLog(message: []const u8, first_trace_addr: ?usize) noreturn {
    _ = first_trace_addr;
    logf(.err, "panic: {s}", .{message});
    @trap();
}

/// Exports the callbacks of `S` as the session's exports. Required declarations:
///
/// - `pub fn init(args: []const u8, err: *Buf) !void` (args are empty when none were given)
/// - `pub fn handleCall(request: []const u8, out: *Buf) !void` (reply into `out`)
/// - `pub fn handleCast(message: []const u8) void`
///
/// Optional: `pub fn terminate(reason: StopReason) void`, `pub fn snapshot(out: *Buf) bool`
/// (true when a snapshot was written) and
/// `pub fn restore(state: []const u8, from_version: []const u8, err: *Buf) !void`.
/// A callback that fails with `fail` reports its message; any other error with an empty
/// buffer reports the error's name (so `try` gives a readable message by itself).
pub fn exportSession(comptime S: type) void {
    const glue = struct {
        fn init(args: ?[*]const u8, len: usize, err: *Buf) callconv(.c) c_int {
            return status(S.init(cSlice(args, len), err), err);
        }
        fn handleCall(request: ?[*]const u8, len: usize, out: *Buf) callconv(.c) c_int {
            return status(S.handleCall(cSlice(request, len), out), out);
        }
        fn handleCast(message: ?[*]const u8, len: usize) callconv(.c) void {
            S.handleCast(cSlice(message, len));
        }
        fn terminate(kind: StopReason.Kind, detail: ?[*]const u8, len: usize) callconv(.c) void {
            S.terminate(.{ .kind = kind, .detail = cSlice(detail, len) });
        }
        fn snapshot(out: *Buf) callconv(.c) bool {
            return S.snapshot(out);
        }
        fn restore(state: ?[*]const u8, len: usize, from: ?[*]const u8, from_len: usize, err: *Buf) callconv(.c) c_int {
            return status(S.restore(cSlice(state, len), cSlice(from, from_len), err), err);
        }
    };
    @export(&glue.init, .{ .name = "sh_init" });
    @export(&glue.handleCall, .{ .name = "sh_handle_call" });
    @export(&glue.handleCast, .{ .name = "sh_handle_cast" });
    if (@hasDecl(S, "terminate")) @export(&glue.terminate, .{ .name = "sh_terminate" });
    if (@hasDecl(S, "snapshot")) @export(&glue.snapshot, .{ .name = "sh_snapshot" });
    if (@hasDecl(S, "restore")) @export(&glue.restore, .{ .name = "sh_restore" });
}

/// A C buffer as a slice (an empty one may come with a null pointer).
fn cSlice(ptr: ?[*]const u8, len: usize) []const u8 {
    return if (ptr) |p| p[0..len] else &.{};
}

/// Maps a callback's outcome onto the C SDK's `sh_result` (0 ok, 1 error).
fn status(result: anyerror!void, out: *Buf) c_int {
    result catch |e| {
        if (e != error.Failed) {
            out.clear();
            out.write(@errorName(e)) catch {};
        }
        return 1;
    };
    return 0;
}

// The C SDK (guest-sdk/c/sessionhost.h), linked into the same module.
extern fn sh_buf_reserve(buf: *Buf, extra: usize) bool;
extern fn sh_buf_write(buf: *Buf, data: [*]const u8, len: usize) bool;
extern fn sh_buf_free(buf: *Buf) void;
extern fn sh_log_n(level: Level, message: [*]const u8, len: usize) void;
extern fn sh_now_ms() u64;
extern fn sh_session_id(out: [*]u8, cap: usize) usize;
extern fn sh_publish(event: [*]const u8, len: usize) bool;
extern fn sh_send_after(message: [*]const u8, len: usize, delay_ms: u64, id: *u64) bool;
extern fn sh_cancel_timer(id: u64) bool;
extern fn sh_json_i64(json: [*]const u8, len: usize, key: [*:0]const u8, out: *i64) json.Found;
extern fn sh_json_str(json: [*]const u8, len: usize, key: [*:0]const u8, str: *[*]const u8, str_len: *usize) json.Found;
extern fn sh_stop_n(reason: [*]const u8, len: usize) void;
