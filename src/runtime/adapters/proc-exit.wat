;; proc_exit with the exit code. jco's preview1 command adapter turns proc_exit(n) into
;; wasi:cli/exit.exit(err) for every n != 0, so `exit(33)` in a C or Rust plugin exited 1. When a
;; module is wrapped, its proc_exit import is renamed to this adapter (adapters/procExit.ts), which
;; passes the code on; the component-model lowering of u8 keeps its low 8 bits, as a POSIX exit
;; status does.
(module
  (import "wasi:cli/exit@0.2.12" "exit-with-code" (func $exit_with_code (param i32)))
  (func (export "proc_exit") (param $code i32)
    (call $exit_with_code (local.get $code))
    unreachable))
