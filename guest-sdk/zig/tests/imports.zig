//! The SDK's test guest: every host import through the Zig SDK, and so through the C SDK beneath it
//! (guest-sdk/zig/sessionhost.zig calls guest-sdk/c/sessionhost.c). Built by `make guest-zig`
//! to target/guests/lang/imports-zig.wasm; driven by tests/tests/languages.rs.
//!
//! Calls are plain text:
//! - `id` replies with `sh.sessionId`, `now` with `sh.nowMs` in decimal;
//! - `later:<ms>` sets a timer with `sh.sendAfter` whose message is `fire`, replies its ID;
//! - `cancel:<id>` replies `true` or `false` from `sh.cancelTimer`;
//! - `stop` calls `sh.stop("done")`; `panic` panics (through `sh.panic`).
//!
//! The cast `fire` publishes `fired`; `terminate` publishes `bye:<kind>:<detail>`.

const std = @import("std");
const sh = @import("sessionhost");

comptime {
    sh.exportSession(Imports);
}

pub const panic = sh.panic;

const Imports = struct {
    pub fn init(args: []const u8, err: *sh.Buf) !void {
        _ = args;
        _ = err;
    }

    pub fn handleCall(request: []const u8, out: *sh.Buf) !void {
        if (std.mem.eql(u8, request, "id")) {
            var id: [64]u8 = undefined;
            try out.write(sh.sessionId(&id));
        } else if (std.mem.eql(u8, request, "now")) {
            try out.print("{d}", .{sh.nowMs()});
        } else if (std.mem.startsWith(u8, request, "later:")) {
            const ms = try std.fmt.parseInt(u64, request["later:".len..], 10);
            try out.print("{d}", .{try sh.sendAfter("fire", ms)});
        } else if (std.mem.startsWith(u8, request, "cancel:")) {
            const id = try std.fmt.parseInt(u64, request["cancel:".len..], 10);
            try out.write(if (sh.cancelTimer(id)) "true" else "false");
        } else if (std.mem.eql(u8, request, "stop")) {
            sh.stop("done");
            try out.write("stopping");
        } else if (std.mem.eql(u8, request, "panic")) {
            @panic("on request");
        } else {
            return sh.fail(out, "unknown request");
        }
    }

    pub fn handleCast(message: []const u8) void {
        if (std.mem.eql(u8, message, "fire")) sh.publish("fired") catch {};
    }

    pub fn terminate(reason: sh.StopReason) void {
        var event: [128]u8 = undefined;
        const text = std.fmt.bufPrint(&event, "bye:{s}:{s}", .{ @tagName(reason.kind), reason.detail }) catch return;
        sh.publish(text) catch {};
    }
};
