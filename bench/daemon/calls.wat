;; A call-heavy module for bench/daemon (scripts/bench-daemon.sh).
;;
;;   run(n: i64, spin: i32) -> i64
;;
;; calls $leaf n times, spinning `spin` loop iterations after each call,
;; so that at the calls level a run produces 2n events (call + return) at a
;; steady rate set by spin (spin 0: as fast as the VM goes).
(module
  (func $leaf (param $x i64) (result i64)
    (i64.add (local.get $x) (i64.const 1)))
  (func (export "run") (param $n i64) (param $spin i32) (result i64)
    (local $acc i64) (local $s i32)
    (block $done
      (loop $again
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $acc (i64.add (local.get $acc)
                                 (call $leaf (local.get $n))))
        (local.set $s (local.get $spin))
        (block $spun
          (loop $spinning
            (br_if $spun (i32.eqz (local.get $s)))
            (local.set $s (i32.sub (local.get $s) (i32.const 1)))
            (br $spinning)))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $again)))
    (local.get $acc)))
