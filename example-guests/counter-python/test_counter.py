"""Unit tests of the Python counter under plain CPython, against the SDK's fake host.

The end-to-end test (`tests/tests/languages.rs`, `python`) runs the built component in the
real host; these check the protocol's edges quickly: `make test-python`.
"""

import unittest

from counter import I64_MAX, I64_MIN, Counter
from sessionhost_guest import testing


class CounterTest(unittest.TestCase):
    def setUp(self):
        self.host = testing.reset()

    def refused(self, session, request):
        with self.assertRaises(testing.Err) as e:
            session.call(request)
        return e.exception.value

    def test_protocol(self):
        s = testing.drive(Counter)
        self.assertEqual(s.call(b'{"op":"get"}'), b'{"value":0}')
        self.assertEqual(s.call(b'{"op":"incr"}'), b'{"value":1}')
        self.assertEqual(s.call(b'{"op":"incr","by":-5}'), b'{"value":-4}')
        s.cast(b'{"op":"incr","by":10}')
        self.assertEqual(s.call(b'{"op":"get"}'), b'{"value":6}')
        self.assertEqual(self.host.published, [b'{"value":1}', b'{"value":-4}', b'{"value":6}'])

    def test_start_and_overflow_at_the_i64_edges(self):
        s = testing.drive(Counter, f'{{"start":{I64_MAX - 1}}}'.encode())
        self.assertEqual(s.call(b'{"op":"incr"}'), f'{{"value":{I64_MAX}}}'.encode())
        self.assertEqual(self.refused(s, b'{"op":"incr"}'), "overflow adding 1")
        s.cast(b'{"op":"incr","by":1}')
        self.assertEqual(testing.logs_at("warn"), ["overflow adding 1"])
        low = testing.drive(Counter, f'{{"start":{I64_MIN}}}'.encode())
        self.assertEqual(self.refused(low, b'{"op":"incr","by":-1}'), "overflow adding -1")

    def test_invalid_messages(self):
        s = testing.drive(Counter)
        for request in [
            b'{"op":"decr"}',
            b'{"op":"incr","by":"2"}',
            b'{"op":"incr","by":1.5}',
            b'{"op":"incr","by":true}',
            b'{"op":"incr","by":99999999999999999999}',
            b'{"op":"get","extra":1}',
            b"[1]",
        ]:
            self.assertTrue(self.refused(s, request).startswith("invalid call message: "), request)
        with self.assertRaises(testing.Err) as e:
            testing.drive(Counter, b'{"start":"x"}')
        self.assertTrue(e.exception.value.startswith("invalid init args: "))

    def test_terminate_logs_the_last_value(self):
        s = testing.drive(Counter, b'{"start":7}')
        s.terminate("requested", "bye")
        self.assertEqual(testing.logs_at("info"), ["counter: ended at 7 (requested(bye))"])

    def test_snapshot_round_trip(self):
        s = testing.drive(Counter, b'{"start":-5}')
        self.assertEqual(s.snapshot(), b'{"value":-5}')
        back = testing.drive(Counter, restore=(b'{"value":13}', "counter"))
        self.assertEqual(back.call(b'{"op":"get"}'), b'{"value":13}')
        for bad in [b'{"nope":1}', b'{"value":"1"}', b'{"value":1,"x":2}', b"null"]:
            with self.assertRaises(testing.Err) as e:
                testing.drive(Counter, restore=(bad, "test"))
            self.assertTrue(e.exception.value.startswith("invalid snapshot: "), bad)


if __name__ == "__main__":
    unittest.main()
