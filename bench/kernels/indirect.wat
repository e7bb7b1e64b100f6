;; indirect: call_indirect through a table.
;;
;; Eight small (i32, i32) -> i32 functions sit in a funcref table; a loop
;; of N = 4,000,000 iterations picks one per iteration from a pseudo-random
;; selector and calls it through call_indirect, so the VM does the full
;; dynamic work each time: table bounds check, null check, signature check,
;; frame setup. A ninth table slot holds a function of another type and is
;; never selected (it keeps the signature check honest).
;;
;; run() -> i32: the final accumulator (see reference.c).
;; Expected: i32:4247931510   (wasm-interp prints it so; checked by reference.c)
(module
  (type $binop (func (param i32 i32) (result i32)))
  (type $other (func (param i64) (result i64)))

  (func $f0 (type $binop) (i32.add (local.get 0) (local.get 1)))
  (func $f1 (type $binop) (i32.sub (local.get 0) (local.get 1)))
  (func $f2 (type $binop) (i32.xor (local.get 0) (i32.mul (local.get 1) (i32.const 0x9e3779b1))))
  (func $f3 (type $binop) (i32.rotl (local.get 0) (i32.and (local.get 1) (i32.const 31))))
  (func $f4 (type $binop) (i32.add (i32.mul (local.get 0) (i32.const 33)) (local.get 1)))
  (func $f5 (type $binop) (i32.or (i32.shr_u (local.get 0) (i32.const 1))
                                  (i32.shl (local.get 1) (i32.const 31))))
  (func $f6 (type $binop)
    (if (result i32) (i32.lt_u (local.get 0) (local.get 1))
      (then (i32.sub (local.get 1) (local.get 0)))
      (else (i32.add (local.get 0) (i32.const 7)))))
  (func $f7 (type $binop) (i32.xor (local.get 0) (i32.shr_u (local.get 0) (i32.const 15))))
  (func $g (type $other) (local.get 0))

  (table 9 funcref)
  (elem (i32.const 0) $f0 $f1 $f2 $f3 $f4 $f5 $f6 $f7 $g)

  (func (export "run") (result i32)
    (local $i i32) (local $acc i32) (local $sel i32)
    (local.set $acc (i32.const 1))
    (local.set $sel (i32.const 0x2545f491))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (i32.const 4000000)))
        ;; sel: 32-bit xorshift; slot = sel & 7
        (local.set $sel (i32.xor (local.get $sel) (i32.shl (local.get $sel) (i32.const 13))))
        (local.set $sel (i32.xor (local.get $sel) (i32.shr_u (local.get $sel) (i32.const 17))))
        (local.set $sel (i32.xor (local.get $sel) (i32.shl (local.get $sel) (i32.const 5))))
        (local.set $acc
          (call_indirect (type $binop)
            (local.get $acc) (local.get $i)
            (i32.and (local.get $sel) (i32.const 7))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $acc)))
