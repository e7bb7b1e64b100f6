;; fib: recursive calls.
;;
;; Naive doubly-recursive Fibonacci. Almost all the time goes into call and
;; return (frame setup, argument passing, result merging), plus an i32
;; compare and a structured `if` per call. fib(33) makes 11,405,773 calls.
;;
;; run() -> i32: fib(33) = 3524578
;; Expected: i32:3524578   (wasm-interp prints it so; checked by reference.c)
(module
  (func $fib (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else
        (i32.add
          (call $fib (i32.sub (local.get $n) (i32.const 1)))
          (call $fib (i32.sub (local.get $n) (i32.const 2)))))))

  (func (export "run") (result i32)
    (call $fib (i32.const 33))))
