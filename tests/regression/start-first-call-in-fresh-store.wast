;; Found by the fuzzer (scripts/fuzz.sh, 2026-11-22): the first call made
;; in a fresh store was a start function, and the interpreter computed its
;; frame pointer from a frame stack that had not been allocated yet
;; (UBSan: "applying zero offset to null pointer" in interp.c run()).
;; Each script runs in a fresh store, so this module's start function is
;; the store's first call.
(module
  (func $start)
  (start $start))
(module
  (global $g (mut i32) (i32.const 0))
  (func $start (global.set $g (i32.const 7)))
  (start $start)
  (func (export "g") (result i32) (global.get $g)))
(assert_return (invoke "g") (i32.const 7))
