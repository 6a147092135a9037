"""Unit tests of the SDK's glue and `ctx`, under plain CPython against the fake host.

They drive session classes through `SessionExport`, the same glue the component's exports
call, bytes in and bytes out, and check what reached the (fake) host. Run with
`make test-python`.
"""

import logging
import unittest

from sessionhost_guest import (
    RAW,
    InvalidMessage,
    Session,
    SessionError,
    StopReason,
    _export,
    ctx,
    export_session,
    testing,
)


class Echo(Session):
    """Replies with what it got; records its lifecycle."""

    def init(self, args):
        self.args = args
        self.stopped = None
        if args == "refuse":
            raise SessionError("refused")
        if args == "bad":
            raise InvalidMessage("not that")

    def handle_call(self, request):
        if request == "boom":
            raise KeyError("a bug")
        if request == "invalid":
            raise InvalidMessage("what is this")
        if request == "timer":
            return ctx.send_after({"tick": 1}, 1500)
        if request == "set":
            return {1, 2}  # a set is not JSON
        return {"echo": request, "args": self.args}

    def handle_cast(self, message):
        if message == "invalid":
            raise InvalidMessage("unknown cast")
        ctx.publish(message)

    def terminate(self, reason):
        ctx.info(f"terminated: {reason}")


class NoSnapshots(Session):
    def handle_call(self, request):
        return None


class Snap(Session):
    def init(self, args):
        self.n = args

    def handle_call(self, request):
        return self.n

    def snapshot(self):
        return {"n": self.n}

    def restore(self, state, from_version):
        if "n" not in state:
            raise InvalidMessage("no n")
        self.n = state["n"] + (100 if from_version == "v1" else 0)


class GlueTest(unittest.TestCase):
    def setUp(self):
        self.host = testing.reset()

    def test_json_in_and_out(self):
        s = testing.drive(Echo, b'{"a": 1}')
        self.assertEqual(s.call(b'"hi"'), b'{"echo":"hi","args":{"a":1}}')

    def test_empty_args_are_none(self):
        s = testing.drive(Echo)
        self.assertEqual(s.call(b"1"), b'{"echo":1,"args":null}')

    def test_init_errors(self):
        with self.assertRaises(testing.Err) as e:
            testing.drive(Echo, b'"refuse"')
        self.assertEqual(e.exception.value, "refused")
        with self.assertRaises(testing.Err) as e:
            testing.drive(Echo, b'"bad"')
        self.assertEqual(e.exception.value, "invalid init args: not that")
        with self.assertRaises(testing.Err) as e:
            testing.drive(Echo, b"{nope")
        self.assertTrue(e.exception.value.startswith("invalid init args: "), e.exception.value)

    def test_call_errors(self):
        s = testing.drive(Echo)
        for request, prefix in [
            (b"{nope", "invalid call message: "),
            (b'"invalid"', "invalid call message: what is this"),
            (b'"set"', "could not encode the reply: "),
        ]:
            with self.assertRaises(testing.Err) as e:
                s.call(request)
            self.assertTrue(e.exception.value.startswith(prefix), e.exception.value)

    def test_a_bug_is_logged_and_raised(self):
        s = testing.drive(Echo)
        with self.assertRaises(KeyError):
            s.call(b'"boom"')
        [line] = testing.logs_at("error")
        self.assertIn("KeyError: 'a bug'", line)
        self.assertIn("Traceback", line)

    def test_call_before_init(self):
        export = _export.SessionExport(Echo)
        with self.assertRaises(testing.Err) as e:
            export.handle_call(b"1")
        self.assertEqual(e.exception.value, _export.NOT_INITIALIZED)

    def test_casts(self):
        s = testing.drive(Echo)
        s.cast(b'{"x":1}')
        s.cast(b"{nope")
        s.cast(b'"invalid"')
        self.assertEqual(self.host.published, [b'{"x":1}'])
        warnings = testing.logs_at("warn")
        self.assertEqual(len(warnings), 2)
        self.assertTrue(warnings[0].startswith("dropped an invalid cast message: "))
        self.assertEqual(warnings[1], "dropped an invalid cast message: unknown cast")

    def test_publish_refused_is_a_session_error(self):
        s = testing.drive(Echo)
        self.host.refuse_publish = "event too large"
        s.cast(b'"x"')
        self.assertEqual(testing.logs_at("warn"), ["event too large"])

    def test_timers_use_the_codec(self):
        s = testing.drive(Echo)
        self.assertEqual(s.call(b'"timer"'), b"1")
        [timer] = self.host.timers
        self.assertEqual((timer.message, timer.delay_ms), (b'{"tick":1}', 1500))
        self.assertTrue(ctx.cancel_timer(1))
        self.assertFalse(ctx.cancel_timer(1))

    def test_terminate_reason(self):
        s = testing.drive(Echo)
        s.terminate("requested", "bye")
        self.assertEqual(testing.logs_at("info"), ["terminated: requested(bye)"])

    def test_wit_stop_reasons_map_to_kinds(self):
        class StopReason_IdleTimeout:
            pass

        class StopReason_Killed:
            value = "admin"

        self.assertEqual(_export._stop_reason(StopReason_IdleTimeout()), StopReason("idle_timeout"))
        self.assertEqual(_export._stop_reason(StopReason_Killed()), StopReason("killed", "admin"))

    def test_snapshots(self):
        s = testing.drive(Snap, b"5")
        state = s.snapshot()
        self.assertEqual(state, b'{"n":5}')
        again = testing.drive(Snap, restore=(state, "v1"))
        self.assertEqual(again.call(b"0"), b"105")
        with self.assertRaises(testing.Err) as e:
            testing.drive(Snap, restore=(b'{"m":1}', "v2"))
        self.assertEqual(e.exception.value, "invalid snapshot: no n")

    def test_no_snapshot_support(self):
        s = testing.drive(NoSnapshots)
        self.assertIsNone(s.snapshot())
        with self.assertRaises(testing.Err) as e:
            testing.drive(NoSnapshots, restore=(b"{}", "v1"))
        self.assertEqual(e.exception.value, "NoSnapshots does not support snapshots")

    def test_raw_codec(self):
        class Raw(Session):
            def handle_call(self, request):
                return request[::-1]

        s = testing.drive(Raw, b"", codec=RAW)
        self.assertEqual(s.call(b"abc"), b"cba")

    def test_logging_reaches_the_host(self):
        logging.getLogger("guest").info("hello %s", "there")
        logging.getLogger("guest").debug("hidden at the default level")
        logging.getLogger("guest").critical("bad")
        self.assertEqual(self.host.logs, [("info", "guest: hello there"), ("error", "guest: bad")])

    def test_ctx_basics(self):
        self.assertEqual(ctx.session_id(), "test-session-0000000000")
        self.assertGreater(ctx.now_ms(), 1_600_000_000_000)
        ctx.stop("done")
        ctx.stop("again")
        self.assertEqual(self.host.stop, "done")
        with self.assertRaises(ValueError):
            ctx.log("loud", "x")

    def test_export_session_checks_its_argument(self):
        with self.assertRaises(TypeError):
            export_session(int)


if __name__ == "__main__":
    unittest.main()
