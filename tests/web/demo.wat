;; The browser test's program, a WASI command:
;;   demo LINES SPIN FIB
;; For each of LINES lines it computes fib(FIB) recursively, prints
;; "line NNNNN fib NNNNNN\n" through $emit (fd_write), then spins SPIN loop
;; iterations: a run that calls, prints and lasts as long as asked. Built
;; with wat2wasm --debug-names so that the listing names the functions.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get"
    (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get"
    (func $args_get (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "line xxxxx fib xxxxxx\n")
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
  (func $fib (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                     (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  ;; $digits decimal digits of $v, right-aligned, ending at address $end
  (func $put (param $v i32) (param $end i32) (param $digits i32)
    (loop $d
      (i32.store8 (local.get $end)
        (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
      (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
      (local.set $end (i32.sub (local.get $end) (i32.const 1)))
      (local.set $digits (i32.sub (local.get $digits) (i32.const 1)))
      (br_if $d (local.get $digits))))
  (func $emit (param $i i32) (param $r i32) (result i32)
    (call $put (local.get $i) (i32.const 25) (i32.const 5))
    (call $put (local.get $r) (i32.const 36) (i32.const 6))
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 22))
    (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
  (func $spin (param $s i32)
    (block $spun
      (loop $spinning
        (br_if $spun (i32.eqz (local.get $s)))
        (local.set $s (i32.sub (local.get $s) (i32.const 1)))
        (br $spinning))))
  (func $_start (export "_start")
    (local $i i32) (local $lines i32) (local $spin i32) (local $fib i32)
    (local $argc i32)
    ;; argc at 64, argv pointers at 128, strings at 1024
    (drop (call $args_sizes_get (i32.const 64) (i32.const 68)))
    (drop (call $args_get (i32.const 128) (i32.const 1024)))
    (local.set $argc (i32.load (i32.const 64)))
    (local.set $lines (i32.const 10))
    (local.set $fib (i32.const 5))
    (if (i32.ge_u (local.get $argc) (i32.const 2))
      (then (local.set $lines (call $atoi (i32.load (i32.const 132))))))
    (if (i32.ge_u (local.get $argc) (i32.const 3))
      (then (local.set $spin (call $atoi (i32.load (i32.const 136))))))
    (if (i32.ge_u (local.get $argc) (i32.const 4))
      (then (local.set $fib (call $atoi (i32.load (i32.const 140))))))
    (block $done
      (loop $again
        (br_if $done (i32.ge_u (local.get $i) (local.get $lines)))
        (drop (call $emit (local.get $i) (call $fib (local.get $fib))))
        (call $spin (local.get $spin))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $again)))))
