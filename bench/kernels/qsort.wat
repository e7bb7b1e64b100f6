;; qsort: recursive quicksort of an i32 array in memory.
;;
;; Fills N = 200,000 i32s from an LCG, sorts them in place with a recursive
;; Hoare-partition quicksort (median-of-three pivot, insertion sort below 16
;; elements), then checks the result is sorted and folds it into a
;; position-weighted checksum. Mixes calls, data-dependent branches, and
;; i32 loads/stores with computed addresses. Repeated REPS = 2 times with
;; different seeds.
;;
;; run() -> i64: for each rep, acc = acc * 1000003 + sum_i a[i] * (i + 1)
;; (i64), or -1 if the array came out unsorted.
;; Expected: i64:14300698020447278199   (wasm-interp prints it so; checked by reference.c)
(module
  (memory 13) ;; 200,000 * 4 = 800,000 bytes

  (func $ld (param $i i32) (result i32)
    (i32.load (i32.shl (local.get $i) (i32.const 2))))
  (func $st (param $i i32) (param $v i32)
    (i32.store (i32.shl (local.get $i) (i32.const 2)) (local.get $v)))

  (func $fill (param $n i32) (param $seed i32)
    (local $i i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $seed (i32.add (i32.mul (local.get $seed) (i32.const 1664525))
                                (i32.const 1013904223)))
      ;; signed values in [-2^30, 2^30): the sort uses signed compares
      (call $st (local.get $i) (i32.shr_s (local.get $seed) (i32.const 1)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l))))

  (func $insertion (param $lo i32) (param $hi i32)
    (local $i i32) (local $j i32) (local $v i32)
    (local.set $i (i32.add (local.get $lo) (i32.const 1)))
    (block $done (loop $outer
      (br_if $done (i32.gt_s (local.get $i) (local.get $hi)))
      (local.set $v (call $ld (local.get $i)))
      (local.set $j (i32.sub (local.get $i) (i32.const 1)))
      (block $placed (loop $shift
        (br_if $placed (i32.lt_s (local.get $j) (local.get $lo)))
        (br_if $placed (i32.le_s (call $ld (local.get $j)) (local.get $v)))
        (call $st (i32.add (local.get $j) (i32.const 1)) (call $ld (local.get $j)))
        (local.set $j (i32.sub (local.get $j) (i32.const 1)))
        (br $shift)))
      (call $st (i32.add (local.get $j) (i32.const 1)) (local.get $v))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $outer))))

  (func $median3 (param $a i32) (param $b i32) (param $c i32) (result i32)
    (if (result i32) (i32.lt_s (local.get $a) (local.get $b))
      (then
        (if (result i32) (i32.lt_s (local.get $b) (local.get $c))
          (then (local.get $b))
          (else (select (local.get $c) (local.get $a)
                        (i32.lt_s (local.get $a) (local.get $c))))))
      (else
        (if (result i32) (i32.lt_s (local.get $a) (local.get $c))
          (then (local.get $a))
          (else (select (local.get $c) (local.get $b)
                        (i32.lt_s (local.get $b) (local.get $c))))))))

  (func $quicksort (param $lo i32) (param $hi i32)
    (local $p i32) (local $i i32) (local $j i32) (local $t i32)
    (loop $tail
      (if (i32.lt_s (i32.sub (local.get $hi) (local.get $lo)) (i32.const 16))
        (then (call $insertion (local.get $lo) (local.get $hi)) (return)))
      (local.set $p
        (call $median3
          (call $ld (local.get $lo))
          (call $ld (i32.add (local.get $lo)
                             (i32.shr_u (i32.sub (local.get $hi) (local.get $lo))
                                        (i32.const 1))))
          (call $ld (local.get $hi))))
      ;; Hoare partition
      (local.set $i (i32.sub (local.get $lo) (i32.const 1)))
      (local.set $j (i32.add (local.get $hi) (i32.const 1)))
      (block $parted (loop $part
        (loop $scan_i
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $scan_i (i32.lt_s (call $ld (local.get $i)) (local.get $p))))
        (loop $scan_j
          (local.set $j (i32.sub (local.get $j) (i32.const 1)))
          (br_if $scan_j (i32.gt_s (call $ld (local.get $j)) (local.get $p))))
        (br_if $parted (i32.ge_s (local.get $i) (local.get $j)))
        (local.set $t (call $ld (local.get $i)))
        (call $st (local.get $i) (call $ld (local.get $j)))
        (call $st (local.get $j) (local.get $t))
        (br $part)))
      ;; recurse into the smaller half, loop on the larger one
      (if (i32.lt_s (i32.sub (local.get $j) (local.get $lo))
                    (i32.sub (local.get $hi) (local.get $j)))
        (then
          (call $quicksort (local.get $lo) (local.get $j))
          (local.set $lo (i32.add (local.get $j) (i32.const 1))))
        (else
          (call $quicksort (i32.add (local.get $j) (i32.const 1)) (local.get $hi))
          (local.set $hi (local.get $j))))
      (br $tail)))

  (func $check (param $n i32) (result i64)
    (local $i i32) (local $s i64)
    (local.set $i (i32.const 1))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (if (i32.gt_s (call $ld (i32.sub (local.get $i) (i32.const 1)))
                    (call $ld (local.get $i)))
        (then (return (i64.const -1))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (local.set $i (i32.const 0))
    (block $done2 (loop $l2
      (br_if $done2 (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $s (i64.add (local.get $s)
        (i64.mul (i64.extend_i32_s (call $ld (local.get $i)))
                 (i64.extend_i32_u (i32.add (local.get $i) (i32.const 1))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l2)))
    (local.get $s))

  (func (export "run") (result i64)
    (local $rep i32) (local $acc i64) (local $s i64)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $rep) (i32.const 2)))
      (call $fill (i32.const 200000)
                  (i32.add (i32.const 42) (i32.mul (local.get $rep) (i32.const 7919))))
      (call $quicksort (i32.const 0) (i32.const 199999))
      (local.set $s (call $check (i32.const 200000)))
      (if (i64.eq (local.get $s) (i64.const -1)) (then (return (i64.const -1))))
      (local.set $acc (i64.add (i64.mul (local.get $acc) (i64.const 1000003))
                               (local.get $s)))
      (local.set $rep (i32.add (local.get $rep) (i32.const 1)))
      (br $l)))
    (local.get $acc)))
