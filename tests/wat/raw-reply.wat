;; raw-reply: a session guest whose every call replies bytes that are not UTF-8, written as
;; a core module in WebAssembly text (no guest language here replies raw bytes without a
;; codec). `make guests` turns it into a component with `sessionhost-guest-tools
;; componentize`, to target/guests/lang/raw-reply.wasm; tests/tests/http_streams.rs drives it
;; over a WebSocket, where such a reply must arrive unaltered in a binary frame.
;;
;; Every export follows the canonical ABI of wit/session.wit by hand:
;; - `init`, `restore`, `snapshot`, `handle-cast`, `terminate` do nothing and succeed
;;   (`snapshot` returns `none`);
;; - `handle-call` replies `ok` with the eight bytes ff fe 00 80 0a 72 61 77 (an invalid
;;   UTF-8 start, a NUL, a lone continuation byte, a newline, then "raw").
(module
  (memory (export "memory") 1)
  ;; The bump allocator's next free byte (lowered arguments land here).
  (global $heap (mut i32) (i32.const 1024))
  (data (i32.const 64) "\ff\fe\00\80\0araw")

  (func (export "cabi_realloc")
    (param $old i32) (param $old_size i32) (param $align i32) (param $new_size i32)
    (result i32)
    (local $ptr i32)
    (local.set $ptr
      (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get $align))))
    (global.set $heap (i32.add (local.get $ptr) (local.get $new_size)))
    (block $fits
      (br_if $fits
        (i32.le_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536))))
      (drop (memory.grow
        (i32.add
          (i32.shr_u
            (i32.sub (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
            (i32.const 16))
          (i32.const 1)))))
    (local.get $ptr))

  ;; result<_, string> → ok: discriminant 0 in the return area at 16.
  (func $ok (result i32)
    (i32.store8 (i32.const 16) (i32.const 0))
    (i32.const 16))

  (func (export "sessionhost:session/session@0.1.0#init") (param i32 i32) (result i32)
    (call $ok))

  ;; result<list<u8>, string> → ok(list at 64, 8 bytes).
  (func (export "sessionhost:session/session@0.1.0#handle-call")
    (param i32 i32) (result i32)
    (i32.store8 (i32.const 16) (i32.const 0))
    (i32.store (i32.const 20) (i32.const 64))
    (i32.store (i32.const 24) (i32.const 8))
    (i32.const 16))

  (func (export "sessionhost:session/session@0.1.0#handle-cast") (param i32 i32))

  (func (export "sessionhost:session/session@0.1.0#terminate") (param i32 i32 i32))

  ;; option<list<u8>> → none: discriminant 0.
  (func (export "sessionhost:session/session@0.1.0#snapshot") (result i32)
    (call $ok))

  (func (export "sessionhost:session/session@0.1.0#restore")
    (param i32 i32 i32 i32) (result i32)
    (call $ok))
)
