;; table-bomb: a hostile session guest written as a core module in WebAssembly text, because
;; no guest language here emits `table.grow`. `make guests` turns it into a component with
;; `sessionhost-guest-tools componentize` (which embeds the session-guest world's types), to
;; target/guests/lang/table-bomb.wasm; tests/tests/isolation_resources.rs drives it.
;;
;; Every export follows the canonical ABI of wit/session.wit by hand:
;; - `init`, `restore`, `snapshot`, `handle-cast`, `terminate` do nothing and succeed
;;   (`snapshot` returns `none`);
;; - `handle-call` grows a function table with no declared maximum by 65 536 null elements
;;   a step, halving the step whenever `table.grow` refuses (returns -1), until even one
;;   element is refused; then it replies `ok("refused at NNNNNNNN")`, the size reached. A
;;   host that does not cap tables lets it claim memory until the process dies (2^32
;;   elements of 8 bytes); sessionhost refuses growth past its cap.
(module
  (memory (export "memory") 1)
  (table $bomb 1 funcref)
  ;; The bump allocator's next free byte (lowered arguments land here).
  (global $heap (mut i32) (i32.const 1024))
  ;; The reply text; its last six bytes are overwritten with the size reached.
  (data (i32.const 64) "refused at 00000000")

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

  (func (export "sessionhost:session/session@0.1.0#handle-call")
    (param i32 i32) (result i32)
    (local $step i32) (local $size i32) (local $at i32)
    ;; Grow 65 536 elements a step; when a step is refused, halve it, down to one element.
    (local.set $step (i32.const 65536))
    (block $refused
      (loop $grow
        (if (i32.eq (table.grow $bomb (ref.null func) (local.get $step)) (i32.const -1))
          (then
            (br_if $refused (i32.eq (local.get $step) (i32.const 1)))
            (local.set $step (i32.shr_u (local.get $step) (i32.const 1)))))
        (br $grow)))
    ;; Write the size reached as eight decimal digits over "00000000" (bytes 75..82).
    (local.set $size (table.size $bomb))
    (local.set $at (i32.const 83))
    (loop $digits
      (local.set $at (i32.sub (local.get $at) (i32.const 1)))
      (i32.store8 (local.get $at)
        (i32.add (i32.const 48) (i32.rem_u (local.get $size) (i32.const 10))))
      (local.set $size (i32.div_u (local.get $size) (i32.const 10)))
      (br_if $digits (i32.gt_u (local.get $at) (i32.const 75))))
    ;; result<list<u8>, string> → ok(list at 64, 19 bytes).
    (i32.store8 (i32.const 16) (i32.const 0))
    (i32.store (i32.const 20) (i32.const 64))
    (i32.store (i32.const 24) (i32.const 19))
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
