;; sieve: integer loops over memory.
;;
;; Sieve of Eratosthenes over a byte array of N = 1,000,000 flags, then a
;; prefix-count pass that stores pi(i) for every i into an i32 array and a
;; final pass that sums the primes. Byte loads and stores, i32 loads and
;; stores at computed addresses, tight counted loops. Repeated REPS = 3 times;
;; each repetition clears the flags itself, so the work is the same.
;;
;; Memory layout: flags at [0, N), pi table (i32) at [N, 5N) (N is a multiple of 4).
;;
;; run() -> i64: per repetition r (0-based),
;;   acc = acc * 31 + (sum of primes < N) + pi(N-1) + r
;; starting from acc = 0. With N = 1e6 the sum of primes is 37550402023
;; and pi(N-1) = 78498.
;; Expected: i64:37287627157386   (wasm-interp prints it so; checked by reference.c)
(module
  (memory 80)

  (global $N i32 (i32.const 1000000))
  (global $PI i32 (i32.const 1000000)) ;; base of the pi table (aligned)

  ;; flags[i] = 1 for every i >= 2, 0 for 0 and 1.
  (func $clear
    (local $i i32)
    (i32.store8 (i32.const 0) (i32.const 0))
    (i32.store8 (i32.const 1) (i32.const 0))
    (local.set $i (i32.const 2))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (global.get $N)))
        (i32.store8 (local.get $i) (i32.const 1))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l))))

  (func $sieve
    (local $p i32) (local $m i32)
    (local.set $p (i32.const 2))
    (block $done
      (loop $outer
        (br_if $done (i32.gt_u (i32.mul (local.get $p) (local.get $p))
                               (global.get $N)))
        (if (i32.load8_u (local.get $p))
          (then
            (local.set $m (i32.mul (local.get $p) (local.get $p)))
            (block $mdone
              (loop $mark
                (br_if $mdone (i32.ge_u (local.get $m) (global.get $N)))
                (i32.store8 (local.get $m) (i32.const 0))
                (local.set $m (i32.add (local.get $m) (local.get $p)))
                (br $mark)))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $outer))))

  ;; pi[i] = number of primes <= i; returns pi(N-1).
  (func $prefix (result i32)
    (local $i i32) (local $count i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (global.get $N)))
        (local.set $count (i32.add (local.get $count)
                                   (i32.load8_u (local.get $i))))
        (i32.store (i32.add (global.get $PI)
                            (i32.shl (local.get $i) (i32.const 2)))
                   (local.get $count))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (i32.load (i32.add (global.get $PI)
                       (i32.shl (i32.sub (global.get $N) (i32.const 1))
                                (i32.const 2)))))

  ;; Sum of primes, read back through the pi table: i is prime exactly
  ;; when pi[i] != pi[i-1].
  (func $sum (result i64)
    (local $i i32) (local $s i64) (local $prev i32) (local $cur i32)
    (local.set $i (i32.const 1))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (global.get $N)))
        (local.set $cur (i32.load (i32.add (global.get $PI)
                                  (i32.shl (local.get $i) (i32.const 2)))))
        (if (i32.ne (local.get $cur) (local.get $prev))
          (then (local.set $s (i64.add (local.get $s)
                                       (i64.extend_i32_u (local.get $i))))))
        (local.set $prev (local.get $cur))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $s))

  (func (export "run") (result i64)
    (local $r i32) (local $acc i64) (local $pi i32)
    (block $done
      (loop $rep
        (br_if $done (i32.ge_u (local.get $r) (i32.const 3)))
        (call $clear)
        (call $sieve)
        (local.set $pi (call $prefix))
        (local.set $acc
          (i64.add
            (i64.add
              (i64.add (i64.mul (local.get $acc) (i64.const 31)) (call $sum))
              (i64.extend_i32_u (local.get $pi)))
            (i64.extend_i32_u (local.get $r))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rep)))
    (local.get $acc)))
