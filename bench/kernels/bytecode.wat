;; bytecode: a br_table dispatch loop (an interpreter inside the interpreter).
;;
;; A tiny register machine with 16 i32 registers (memory [0, 64)) runs a
;; program stored in a data segment at 256. Each instruction is 8 bytes:
;;   op:u8 a:u8 b:u8 c:u8 imm:i32
;; and the dispatch is one br_table over the opcode, the way a switch-based
;; bytecode VM compiles. Opcodes:
;;   0 HALT            return r[a]
;;   1 LI   a imm      r[a] = imm
;;   2 ADD  a b c      r[a] = r[b] + r[c]
;;   3 SUB  a b c      r[a] = r[b] - r[c]
;;   4 MUL  a b c      r[a] = r[b] * r[c]
;;   5 XOR  a b c      r[a] = r[b] ^ r[c]
;;   6 SHRI a b imm    r[a] = r[b] >>u imm
;;   7 ADDI a b imm    r[a] = r[b] + imm
;;   8 JNZ  a imm      if r[a] != 0 goto imm (instruction index)
;;   9 AND  a b c      r[a] = r[b] & r[c]
;;  10 SHLI a b imm    r[a] = r[b] << imm
;;  11 JMP  imm        goto imm
;;  12 LTU  a b c      r[a] = r[b] <u r[c]
;;
;; The program mixes an LCG into an accumulator and, every 8th step, adds
;; a small inner loop, so both taken and untaken jumps occur:
;;   0  LI   r0, ITER        ; outer counter
;;   1  LI   r1, 0           ; acc
;;   2  LI   r2, 12345       ; x
;;   3  LI   r4, 1103515245  ; LCG multiplier
;;   4  LI   r6, 7           ; mask
;;   5  MUL  r2, r2, r4      ; loop:
;;   6  ADDI r2, r2, 12345
;;   7  SHRI r3, r2, 16
;;   8  XOR  r1, r1, r3
;;   9  SHLI r5, r1, 3
;;  10  ADD  r1, r1, r5
;;  11  AND  r7, r0, r6      ; every 8th outer step run the inner loop
;;  12  JNZ  r7, 17
;;  13  LI   r8, 4           ; inner: 4 rounds of acc += acc >> 5
;;  14  SHRI r9, r1, 5
;;  15  ADD  r1, r1, r9
;;  16  ADDI r8, r8, -1      ; (falls into the JNZ below via 17/18)
;;  17  JNZ  r8, 14          ; r8 is 0 outside the inner loop
;;  18  ADDI r0, r0, -1
;;  19  JNZ  r0, 5
;;  20  HALT r1
;;
;; run() -> i32: r1 at HALT (see reference.c).
;; Expected: i32:1678533770   (wasm-interp prints it so; checked by reference.c)
(module
  (memory 1)
  (data (i32.const 256)
    ;;    op a  b  c    imm (little endian)
    "\01\00\00\00" "\20\a1\07\00"   ;;  0 LI   r0, 500000
    "\01\01\00\00" "\00\00\00\00"   ;;  1 LI   r1, 0
    "\01\02\00\00" "\39\30\00\00"   ;;  2 LI   r2, 12345
    "\01\04\00\00" "\6d\4e\c6\41"   ;;  3 LI   r4, 1103515245
    "\01\06\00\00" "\07\00\00\00"   ;;  4 LI   r6, 7
    "\04\02\02\04" "\00\00\00\00"   ;;  5 MUL  r2, r2, r4
    "\07\02\02\00" "\39\30\00\00"   ;;  6 ADDI r2, r2, 12345
    "\06\03\02\00" "\10\00\00\00"   ;;  7 SHRI r3, r2, 16
    "\05\01\01\03" "\00\00\00\00"   ;;  8 XOR  r1, r1, r3
    "\0a\05\01\00" "\03\00\00\00"   ;;  9 SHLI r5, r1, 3
    "\02\01\01\05" "\00\00\00\00"   ;; 10 ADD  r1, r1, r5
    "\09\07\00\06" "\00\00\00\00"   ;; 11 AND  r7, r0, r6
    "\08\07\00\00" "\11\00\00\00"   ;; 12 JNZ  r7, 17
    "\01\08\00\00" "\04\00\00\00"   ;; 13 LI   r8, 4
    "\06\09\01\00" "\05\00\00\00"   ;; 14 SHRI r9, r1, 5
    "\02\01\01\09" "\00\00\00\00"   ;; 15 ADD  r1, r1, r9
    "\07\08\08\00" "\ff\ff\ff\ff"   ;; 16 ADDI r8, r8, -1
    "\08\08\00\00" "\0e\00\00\00"   ;; 17 JNZ  r8, 14
    "\07\00\00\00" "\ff\ff\ff\ff"   ;; 18 ADDI r0, r0, -1
    "\08\00\00\00" "\05\00\00\00"   ;; 19 JNZ  r0, 5
    "\00\01\00\00" "\00\00\00\00")  ;; 20 HALT r1

  (func (export "run") (result i32)
    (local $pc i32)   ;; byte address of the current instruction
    (local $a i32) (local $b i32) (local $c i32) (local $imm i32)
    (local.set $pc (i32.const 256))
    (loop $dispatch
      ;; Fetch and decode; register operands become byte offsets.
      (local.set $a (i32.shl (i32.load8_u offset=1 (local.get $pc)) (i32.const 2)))
      (local.set $b (i32.shl (i32.load8_u offset=2 (local.get $pc)) (i32.const 2)))
      (local.set $c (i32.shl (i32.load8_u offset=3 (local.get $pc)) (i32.const 2)))
      (local.set $imm (i32.load offset=4 (local.get $pc)))
      (local.set $pc (i32.add (local.get $pc) (i32.const 8)))
      (block $ltu (block $jmp (block $shli (block $and (block $jnz
      (block $addi (block $shri (block $xor (block $mul (block $sub
      (block $add (block $li (block $halt
        (br_table $halt $li $add $sub $mul $xor $shri $addi $jnz $and
                  $shli $jmp $ltu $halt
                  (i32.load8_u (i32.sub (local.get $pc) (i32.const 8)))))
        ;; 0 HALT
        (return (i32.load (local.get $a))))
        ;; 1 LI
        (i32.store (local.get $a) (local.get $imm))
        (br $dispatch))
        ;; 2 ADD
        (i32.store (local.get $a) (i32.add (i32.load (local.get $b))
                                           (i32.load (local.get $c))))
        (br $dispatch))
        ;; 3 SUB
        (i32.store (local.get $a) (i32.sub (i32.load (local.get $b))
                                           (i32.load (local.get $c))))
        (br $dispatch))
        ;; 4 MUL
        (i32.store (local.get $a) (i32.mul (i32.load (local.get $b))
                                           (i32.load (local.get $c))))
        (br $dispatch))
        ;; 5 XOR
        (i32.store (local.get $a) (i32.xor (i32.load (local.get $b))
                                           (i32.load (local.get $c))))
        (br $dispatch))
        ;; 6 SHRI
        (i32.store (local.get $a) (i32.shr_u (i32.load (local.get $b))
                                             (local.get $imm)))
        (br $dispatch))
        ;; 7 ADDI
        (i32.store (local.get $a) (i32.add (i32.load (local.get $b))
                                           (local.get $imm)))
        (br $dispatch))
        ;; 8 JNZ
        (if (i32.load (local.get $a))
          (then (local.set $pc (i32.add (i32.const 256)
                                        (i32.shl (local.get $imm) (i32.const 3))))))
        (br $dispatch))
        ;; 9 AND
        (i32.store (local.get $a) (i32.and (i32.load (local.get $b))
                                           (i32.load (local.get $c))))
        (br $dispatch))
        ;; 10 SHLI
        (i32.store (local.get $a) (i32.shl (i32.load (local.get $b))
                                           (local.get $imm)))
        (br $dispatch))
        ;; 11 JMP
        (local.set $pc (i32.add (i32.const 256)
                                (i32.shl (local.get $imm) (i32.const 3))))
        (br $dispatch))
      ;; 12 LTU
      (i32.store (local.get $a) (i32.lt_u (i32.load (local.get $b))
                                          (i32.load (local.get $c))))
      (br $dispatch))
    (unreachable)))
