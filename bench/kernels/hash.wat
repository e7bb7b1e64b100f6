;; hash: 64-bit bit mixing.
;;
;; A stream of N = 2,500,000 keys from xorshift64 is folded into a
;; MurmurHash3-style 64-bit state (i64 mul by the Murmur constants, rotl,
;; xor, shifts), and every key also goes through the splitmix64 finaliser
;; into a second lane that is combined with i32 rotates and wrapping adds.
;; Everything stays in locals: the kernel measures i64 ALU throughput and
;; local access, nothing else.
;;
;; run() -> i64: fmix64(h1 ^ N) + h2 (see reference.c for the exact steps).
;; Expected: i64:18145913946637899342   (wasm-interp prints it so; checked by reference.c)
(module
  (func $fmix64 (param $k i64) (result i64)
    (local.set $k (i64.xor (local.get $k) (i64.shr_u (local.get $k) (i64.const 33))))
    (local.set $k (i64.mul (local.get $k) (i64.const 0xff51afd7ed558ccd)))
    (local.set $k (i64.xor (local.get $k) (i64.shr_u (local.get $k) (i64.const 33))))
    (local.set $k (i64.mul (local.get $k) (i64.const 0xc4ceb9fe1a85ec53)))
    (i64.xor (local.get $k) (i64.shr_u (local.get $k) (i64.const 33))))

  (func (export "run") (result i64)
    (local $i i32) (local $x i64) (local $k i64) (local $h1 i64)
    (local $h2 i32) (local $lo i32)
    (local.set $x (i64.const 0x9e3779b97f4a7c15))
    (local.set $h1 (i64.const 0x243f6a8885a308d3))
    (local.set $h2 (i32.const 0x13198a2e))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (i32.const 2500000)))
        ;; xorshift64: x ^= x << 13; x ^= x >> 7; x ^= x << 17
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 13))))
        (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 7))))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 17))))
        ;; murmur3 body: k *= c1; k = rotl(k, 31); k *= c2; h1 ^= k;
        ;; h1 = rotl(h1, 27) * 5 + 0x52dce729
        (local.set $k (i64.mul (local.get $x) (i64.const 0x87c37b91114253d5)))
        (local.set $k (i64.rotl (local.get $k) (i64.const 31)))
        (local.set $k (i64.mul (local.get $k) (i64.const 0x4cf5ad432745937f)))
        (local.set $h1 (i64.xor (local.get $h1) (local.get $k)))
        (local.set $h1 (i64.add
                         (i64.mul (i64.rotl (local.get $h1) (i64.const 27))
                                  (i64.const 5))
                         (i64.const 0x52dce729)))
        ;; second lane: 32-bit mixing of the low half of fmix64(x)
        (local.set $lo (i32.wrap_i64 (call $fmix64 (local.get $x))))
        (local.set $h2 (i32.add
                         (i32.rotr (i32.xor (local.get $h2) (local.get $lo))
                                   (i32.const 13))
                         (i32.mul (local.get $lo) (i32.const 0x9e3779b1))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (i64.add (call $fmix64 (i64.xor (local.get $h1) (i64.const 2500000)))
             (i64.extend_i32_u (local.get $h2)))))
