;; simd_mandel: Mandelbrot set, four pixels at a time in f32x4 lanes.
;;
;; W x H = 480 x 360 pixels over [-2, 1] x [-1.2, 1.2), at most MAXIT =
;; 200 iterations. A row is walked in groups of 4 adjacent pixels; each
;; group iterates z = z^2 + c in f32x4 lanes until no lane is alive
;; (v128.any_true), where a lane stays alive while |z|^2 <= 4
;; (f32x4.le, v128.and); its escape count grows by i32x4.sub of the alive
;; mask. Lanes keep iterating after they escape (as real SIMD code does),
;; so infinities and NaNs go through the float lanes; they are masked off.
;; All f32 arithmetic is IEEE single, no fused ops, so the counts are the
;; same everywhere.
;;
;; run() -> i64: acc = acc * 31 + (n0 + 2 n1 + 3 n2 + 4 n3) per group,
;; n the lane counts, groups in row-major order.
;; Expected: i64:3808761505626114168   (wasm-interp prints it so; checked by reference_simd.c)
(module
  (func (export "run") (result i64)
    (local $px i32) (local $py i32) (local $it i32) (local $acc i64)
    (local $cr v128) (local $ci v128) (local $zr v128) (local $zi v128)
    (local $zr2 v128) (local $zi2 v128) (local $t v128)
    (local $alive v128) (local $cnt v128)
    (block $ydone (loop $yl
      (br_if $ydone (i32.ge_u (local.get $py) (i32.const 360)))
      (local.set $ci (f32x4.splat
        (f32.add (f32.const -1.2)
                 (f32.mul (f32.convert_i32_s (local.get $py))
                          (f32.const 0.006666667)))))
      (local.set $px (i32.const 0))
      (block $xdone (loop $xl
        (br_if $xdone (i32.ge_u (local.get $px) (i32.const 480)))
        (local.set $cr
          (f32x4.add (f32x4.splat (f32.const -2.0))
            (f32x4.mul
              (f32x4.convert_i32x4_s
                (i32x4.add (i32x4.splat (local.get $px))
                           (v128.const i32x4 0 1 2 3)))
              (f32x4.splat (f32.const 0.00625)))))
        (local.set $zr (v128.const f32x4 0 0 0 0))
        (local.set $zi (v128.const f32x4 0 0 0 0))
        (local.set $alive (v128.const i32x4 -1 -1 -1 -1))
        (local.set $cnt (v128.const i32x4 0 0 0 0))
        (local.set $it (i32.const 0))
        (block $escaped (loop $il
          (local.set $zr2 (f32x4.mul (local.get $zr) (local.get $zr)))
          (local.set $zi2 (f32x4.mul (local.get $zi) (local.get $zi)))
          (local.set $alive
            (v128.and (local.get $alive)
              (f32x4.le (f32x4.add (local.get $zr2) (local.get $zi2))
                        (v128.const f32x4 4 4 4 4))))
          (br_if $escaped (i32.eqz (v128.any_true (local.get $alive))))
          (local.set $cnt (i32x4.sub (local.get $cnt) (local.get $alive)))
          (local.set $t (f32x4.mul (local.get $zr) (local.get $zi)))
          (local.set $zi (f32x4.add (f32x4.add (local.get $t) (local.get $t))
                                    (local.get $ci)))
          (local.set $zr (f32x4.add (f32x4.sub (local.get $zr2) (local.get $zi2))
                                    (local.get $cr)))
          (br_if $il (i32.lt_u (local.tee $it (i32.add (local.get $it) (i32.const 1)))
                               (i32.const 200)))))
        (local.set $acc
          (i64.add (i64.mul (local.get $acc) (i64.const 31))
            (i64.extend_i32_u
              (i32.add
                (i32.add (i32x4.extract_lane 0 (local.get $cnt))
                         (i32.mul (i32x4.extract_lane 1 (local.get $cnt)) (i32.const 2)))
                (i32.add (i32.mul (i32x4.extract_lane 2 (local.get $cnt)) (i32.const 3))
                         (i32.mul (i32x4.extract_lane 3 (local.get $cnt)) (i32.const 4)))))))
        (local.set $px (i32.add (local.get $px) (i32.const 4)))
        (br $xl)))
      (local.set $py (i32.add (local.get $py) (i32.const 1)))
      (br $yl)))
    (local.get $acc)))
