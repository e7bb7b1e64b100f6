;; simd_dot: integer and float dot products with 128-bit SIMD.
;;
;; Two i16 vectors a, b of N = 4096 lanes and two f32 vectors x, y of
;; 2048 lanes, filled from an LCG. Each of REPS = 4000 repetitions takes
;; the i16 dot product with i32x4.dot_i16x8_s (wrapping i32 lane sums),
;; the f32 dot product with f32x4.mul / f32x4.add (four lane sums of small
;; integers, exact in f32), folds both into the checksum and then perturbs
;; the inputs lane-wise: a = (b - a) + splat(rep & 7) (i16x8, wrapping),
;; x = y - x (f32x4). The loops are v128 loads, one or two SIMD ops and an
;; address step: SIMD dispatch and v128 operand traffic, little else.
;;
;; run() -> i64: acc = (acc * 1000003 + u32(isum)) * 31 + i32(fsum) per
;; rep, isum = lane 0 + 1 + 2 + 3 (i32, wrapping), fsum likewise in f32,
;; truncated to i32.
;; Expected: i64:8707549035322648672   (wasm-interp prints it so; checked by reference_simd.c)
(module
  (memory 1)
  ;; a at 0, b at 8192 (i16 x 4096); x at 16384, y at 24576 (f32 x 2048)

  (func $init
    (local $i i32) (local $seed i32)
    (local.set $seed (i32.const 12345))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (i32.const 4096)))
      (local.set $seed (i32.add (i32.mul (local.get $seed) (i32.const 1664525))
                                (i32.const 1013904223)))
      (i32.store16 (i32.shl (local.get $i) (i32.const 1))
        (i32.sub (i32.and (i32.shr_u (local.get $seed) (i32.const 16)) (i32.const 255))
                 (i32.const 128)))
      (i32.store16 (i32.add (i32.const 8192) (i32.shl (local.get $i) (i32.const 1)))
        (i32.sub (i32.shr_u (local.get $seed) (i32.const 24)) (i32.const 128)))
      (if (i32.lt_u (local.get $i) (i32.const 2048))
        (then
          (f32.store (i32.add (i32.const 16384) (i32.shl (local.get $i) (i32.const 2)))
            (f32.convert_i32_s
              (i32.sub (i32.and (i32.shr_u (local.get $seed) (i32.const 8)) (i32.const 31))
                       (i32.const 16))))
          (f32.store (i32.add (i32.const 24576) (i32.shl (local.get $i) (i32.const 2)))
            (f32.convert_i32_s
              (i32.sub (i32.and (local.get $seed) (i32.const 15)) (i32.const 8))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l))))

  (func (export "run") (result i64)
    (local $rep i32) (local $p i32) (local $acc i64)
    (local $vi v128) (local $vf v128) (local $k v128)
    (local $isum i32) (local $fsum f32)
    (call $init)
    (block $rdone (loop $rl
      (br_if $rdone (i32.ge_u (local.get $rep) (i32.const 4000)))
      ;; integer dot
      (local.set $vi (v128.const i32x4 0 0 0 0))
      (local.set $p (i32.const 0))
      (loop $il
        (local.set $vi (i32x4.add (local.get $vi)
          (i32x4.dot_i16x8_s (v128.load (local.get $p))
                             (v128.load offset=8192 (local.get $p)))))
        (br_if $il (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 16)))
                             (i32.const 8192))))
      (local.set $isum (i32.add (i32.add (i32x4.extract_lane 0 (local.get $vi))
                                         (i32x4.extract_lane 1 (local.get $vi)))
                                (i32.add (i32x4.extract_lane 2 (local.get $vi))
                                         (i32x4.extract_lane 3 (local.get $vi)))))
      ;; float dot
      (local.set $vf (v128.const f32x4 0 0 0 0))
      (local.set $p (i32.const 16384))
      (loop $fl
        (local.set $vf (f32x4.add (local.get $vf)
          (f32x4.mul (v128.load (local.get $p))
                     (v128.load offset=8192 (local.get $p)))))
        (br_if $fl (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 16)))
                             (i32.const 24576))))
      (local.set $fsum (f32.add (f32.add (f32.add (f32x4.extract_lane 0 (local.get $vf))
                                                  (f32x4.extract_lane 1 (local.get $vf)))
                                         (f32x4.extract_lane 2 (local.get $vf)))
                                (f32x4.extract_lane 3 (local.get $vf))))
      (local.set $acc
        (i64.add (i64.mul (i64.add (i64.mul (local.get $acc) (i64.const 1000003))
                                   (i64.extend_i32_u (local.get $isum)))
                          (i64.const 31))
                 (i64.extend_i32_s (i32.trunc_f32_s (local.get $fsum)))))
      ;; perturb: a = (b - a) + (rep & 7); x = y - x
      (local.set $k (i16x8.splat (i32.and (local.get $rep) (i32.const 7))))
      (local.set $p (i32.const 0))
      (loop $pl
        (v128.store (local.get $p)
          (i16x8.add (i16x8.sub (v128.load offset=8192 (local.get $p))
                                (v128.load (local.get $p)))
                     (local.get $k)))
        (br_if $pl (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 16)))
                             (i32.const 8192))))
      (local.set $p (i32.const 16384))
      (loop $ql
        (v128.store (local.get $p)
          (f32x4.sub (v128.load offset=8192 (local.get $p)) (v128.load (local.get $p))))
        (br_if $ql (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 16)))
                             (i32.const 24576))))
      (local.set $rep (i32.add (local.get $rep) (i32.const 1)))
      (br $rl)))
    (local.get $acc)))
