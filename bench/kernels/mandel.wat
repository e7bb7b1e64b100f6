;; mandel: f64 arithmetic and data-dependent branches.
;;
;; Escape-time Mandelbrot over a W x H = 400 x 300 grid of the region
;; [-2.2, 1.0] x [-1.2, 1.2], at most MAXIT = 200 iterations per point.
;; The inner loop is pure f64 mul/add/sub/compare in locals; the checksum
;; is the total iteration count plus a hash of the per-row counts, so a
;; point that escapes one iteration early or late changes it.
;;
;; run() -> i64: for each row y, rowsum = sum of iteration counts in the
;;   row; acc = acc * 1000003 + rowsum; total += rowsum.
;;   result = acc ^ (total << 32).
;; Expected: i64:16351448296522370428   (wasm-interp prints it so; checked by reference.c)
(module
  (func $point (param $cr f64) (param $ci f64) (result i32)
    (local $zr f64) (local $zi f64) (local $zr2 f64) (local $zi2 f64)
    (local $n i32)
    (block $escaped
      (loop $it
        (br_if $escaped (i32.ge_u (local.get $n) (i32.const 200)))
        (local.set $zr2 (f64.mul (local.get $zr) (local.get $zr)))
        (local.set $zi2 (f64.mul (local.get $zi) (local.get $zi)))
        (br_if $escaped (f64.gt (f64.add (local.get $zr2) (local.get $zi2))
                                (f64.const 4.0)))
        (local.set $zi (f64.add (f64.mul (f64.mul (f64.const 2.0)
                                                  (local.get $zr))
                                         (local.get $zi))
                                (local.get $ci)))
        (local.set $zr (f64.add (f64.sub (local.get $zr2) (local.get $zi2))
                                (local.get $cr)))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $it)))
    (local.get $n))

  (func (export "run") (result i64)
    (local $x i32) (local $y i32) (local $rowsum i64)
    (local $acc i64) (local $total i64) (local $ci f64)
    (block $ydone
      (loop $rows
        (br_if $ydone (i32.ge_u (local.get $y) (i32.const 300)))
        ;; ci = -1.2 + y * (2.4 / 300)
        (local.set $ci (f64.add (f64.const -1.2)
                                (f64.mul (f64.convert_i32_u (local.get $y))
                                         (f64.const 0.008))))
        (local.set $rowsum (i64.const 0))
        (local.set $x (i32.const 0))
        (block $xdone
          (loop $cols
            (br_if $xdone (i32.ge_u (local.get $x) (i32.const 400)))
            ;; cr = -2.2 + x * (3.2 / 400)
            (local.set $rowsum
              (i64.add (local.get $rowsum)
                (i64.extend_i32_u
                  (call $point
                    (f64.add (f64.const -2.2)
                             (f64.mul (f64.convert_i32_u (local.get $x))
                                      (f64.const 0.008)))
                    (local.get $ci)))))
            (local.set $x (i32.add (local.get $x) (i32.const 1)))
            (br $cols)))
        (local.set $acc (i64.add (i64.mul (local.get $acc) (i64.const 1000003))
                                 (local.get $rowsum)))
        (local.set $total (i64.add (local.get $total) (local.get $rowsum)))
        (local.set $y (i32.add (local.get $y) (i32.const 1)))
        (br $rows)))
    (i64.xor (local.get $acc) (i64.shl (local.get $total) (i64.const 32)))))
