;; A WASI command: `chatty LINES SPIN` writes LINES lines "line NNNNN\n" to
;; stdout, spinning SPIN loop iterations between two lines, so that a run
;; produces events steadily for as long as the test wants.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get"
    (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get"
    (func $args_get (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "line xxxxx\n")
  ;; decimal at address $p (NUL-terminated), 0 when absent
  (func $atoi (param $p i32) (result i32)
    (local $n i32) (local $c i32)
    (block $done
      (loop $next
        (local.set $c (i32.load8_u (local.get $p)))
        (br_if $done (i32.lt_u (local.get $c) (i32.const 48)))
        (br_if $done (i32.gt_u (local.get $c) (i32.const 57)))
        (local.set $n (i32.add (i32.mul (local.get $n) (i32.const 10))
                               (i32.sub (local.get $c) (i32.const 48))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $next)))
    (local.get $n))
  (func (export "_start")
    (local $i i32) (local $k i32) (local $v i32) (local $lines i32)
    (local $spin i32) (local $s i32)
    ;; argc at 64, argv pointers at 128, strings at 1024
    (drop (call $args_sizes_get (i32.const 64) (i32.const 68)))
    (drop (call $args_get (i32.const 128) (i32.const 1024)))
    (local.set $lines (i32.const 100))
    (if (i32.ge_u (i32.load (i32.const 64)) (i32.const 2))
      (then (local.set $lines (call $atoi (i32.load (i32.const 132))))))
    (if (i32.ge_u (i32.load (i32.const 64)) (i32.const 3))
      (then (local.set $spin (call $atoi (i32.load (i32.const 136))))))
    (block $done
      (loop $again
        (br_if $done (i32.ge_u (local.get $i) (local.get $lines)))
        (local.set $v (local.get $i))
        (local.set $k (i32.const 25))
        (loop $digits
          (i32.store8 (local.get $k)
            (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
          (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
          (local.set $k (i32.sub (local.get $k) (i32.const 1)))
          (br_if $digits (i32.ge_u (local.get $k) (i32.const 21))))
        (i32.store (i32.const 0) (i32.const 16))
        (i32.store (i32.const 4) (i32.const 11))
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
        (local.set $s (local.get $spin))
        (block $spun
          (loop $spinning
            (br_if $spun (i32.eqz (local.get $s)))
            (local.set $s (i32.sub (local.get $s) (i32.const 1)))
            (br $spinning)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $again)))))
