;; matmul: f64 matrix multiply over linear memory.
;;
;; C = A * B for N x N = 150 x 150 row-major f64 matrices, repeated REPS = 2
;; times (B is perturbed between repetitions). A[i][j] = ((i*7 + j*3) mod 11) - 5
;; and B[i][j] = ((i*5 + j*13) mod 9) - 4 (+ rep), small integers, so every
;; product and sum is exact in f64 and the checksum does not depend on the
;; summation order. The i-k-j loop order streams rows of B and C: f64 loads
;; and stores with computed addresses, a mul and an add per step.
;;
;; run() -> i64: sum over reps of sum_{i,j} C[i][j] * (1 + ((i*N + j) mod 97)),
;; converted with i64.trunc_f64_s.
;; Expected: i64:204679   (wasm-interp prints it so; checked by reference.c)
(module
  (memory 9) ;; 3 matrices * 150*150*8 = 540,000 bytes

  (global $N i32 (i32.const 150))
  (global $A i32 (i32.const 0))
  (global $B i32 (i32.const 180000))
  (global $C i32 (i32.const 360000))

  (func $addr (param $base i32) (param $i i32) (param $j i32) (result i32)
    (i32.add (local.get $base)
      (i32.shl (i32.add (i32.mul (local.get $i) (global.get $N)) (local.get $j))
               (i32.const 3))))

  (func $init (param $rep i32)
    (local $i i32) (local $j i32)
    (local.set $i (i32.const 0))
    (block $idone (loop $il
      (br_if $idone (i32.ge_u (local.get $i) (global.get $N)))
      (local.set $j (i32.const 0))
      (block $jdone (loop $jl
        (br_if $jdone (i32.ge_u (local.get $j) (global.get $N)))
        (f64.store (call $addr (global.get $A) (local.get $i) (local.get $j))
          (f64.convert_i32_s
            (i32.sub (i32.rem_u (i32.add (i32.mul (local.get $i) (i32.const 7))
                                         (i32.mul (local.get $j) (i32.const 3)))
                                (i32.const 11))
                     (i32.const 5))))
        (f64.store (call $addr (global.get $B) (local.get $i) (local.get $j))
          (f64.convert_i32_s
            (i32.add
              (i32.sub (i32.rem_u (i32.add (i32.mul (local.get $i) (i32.const 5))
                                           (i32.mul (local.get $j) (i32.const 13)))
                                  (i32.const 9))
                       (i32.const 4))
              (local.get $rep))))
        (f64.store (call $addr (global.get $C) (local.get $i) (local.get $j))
                   (f64.const 0))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $jl)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $il))))

  (func $multiply
    (local $i i32) (local $k i32) (local $j i32)
    (local $aik f64) (local $brow i32) (local $crow i32) (local $end i32)
    (block $idone (loop $il
      (br_if $idone (i32.ge_u (local.get $i) (global.get $N)))
      (local.set $crow (call $addr (global.get $C) (local.get $i) (i32.const 0)))
      (local.set $k (i32.const 0))
      (block $kdone (loop $kl
        (br_if $kdone (i32.ge_u (local.get $k) (global.get $N)))
        (local.set $aik (f64.load (call $addr (global.get $A) (local.get $i) (local.get $k))))
        (local.set $brow (call $addr (global.get $B) (local.get $k) (i32.const 0)))
        (local.set $j (i32.const 0))
        (block $jdone (loop $jl
          (br_if $jdone (i32.ge_u (local.get $j) (global.get $N)))
          (local.set $end (i32.shl (local.get $j) (i32.const 3)))
          (f64.store (i32.add (local.get $crow) (local.get $end))
            (f64.add (f64.load (i32.add (local.get $crow) (local.get $end)))
                     (f64.mul (local.get $aik)
                              (f64.load (i32.add (local.get $brow) (local.get $end))))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $jl)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $kl)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $il))))

  (func $checksum (result f64)
    (local $i i32) (local $j i32) (local $s f64)
    (block $idone (loop $il
      (br_if $idone (i32.ge_u (local.get $i) (global.get $N)))
      (local.set $j (i32.const 0))
      (block $jdone (loop $jl
        (br_if $jdone (i32.ge_u (local.get $j) (global.get $N)))
        (local.set $s
          (f64.add (local.get $s)
            (f64.mul
              (f64.load (call $addr (global.get $C) (local.get $i) (local.get $j)))
              (f64.convert_i32_u
                (i32.add (i32.const 1)
                  (i32.rem_u (i32.add (i32.mul (local.get $i) (global.get $N))
                                      (local.get $j))
                             (i32.const 97)))))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $jl)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $il)))
    (local.get $s))

  (func (export "run") (result i64)
    (local $rep i32) (local $total i64)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $rep) (i32.const 2)))
      (call $init (local.get $rep))
      (call $multiply)
      (local.set $total (i64.add (local.get $total)
                                 (i64.trunc_f64_s (call $checksum))))
      (local.set $rep (i32.add (local.get $rep) (i32.const 1)))
      (br $l)))
    (local.get $total)))
