;; The component the `json_values` fuzz target maps JSON onto: one
;; function per family of WIT types, each a no-op that accepts its
;; arguments (so a call fails only when the host cannot lower a value).
;; The core functions' parameters are the flattened (canonical ABI) forms;
;; `wide` has more than 16 flat parameters, so it takes a pointer.
(component
  (core module $m
    (memory (export "memory") 1)
    (global $next (mut i32) (i32.const 16))
    ;; A bump allocator: enough for arguments that live one call.
    (func (export "realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
      (local $ptr i32)
      (local.set $ptr
        (i32.and
          (i32.add (global.get $next) (i32.sub (local.get $align) (i32.const 1)))
          (i32.sub (i32.const 0) (local.get $align))))
      (global.set $next (i32.add (local.get $ptr) (local.get $size)))
      (block $fits
        (br_if $fits (i32.le_u (global.get $next) (i32.shl (memory.size) (i32.const 16))))
        (br_if $fits
          (i32.ne
            (memory.grow
              (i32.sub
                (i32.add (i32.shr_u (global.get $next) (i32.const 16)) (i32.const 1))
                (memory.size)))
            (i32.const -1)))
        unreachable)
      (local.get $ptr))
    (func (export "scalars")
      (param i32 i32 i32 i32 i32 i32 i32 i64 i64 f32 f64 i32 i32 i32))
    (func (export "lists") (param i32 i32 i32 i32 i32 i32 i32 i32))
    (func (export "record") (param i32 f64 i32 i32 i32 i32 i32 i32))
    (func (export "choices") (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i64))
    (func (export "nested") (param i32 i32 i32 i32 i32 i32 i32 i32))
    (func (export "wide") (param i32))
  )
  (core instance $i (instantiate $m))

  (type $point' (record
    (field "x" s32)
    (field "y" f64)
    (field "label" string)
    (field "tags" (list string))
    (field "maybe" (option u8))))
  (export $point "point" (type $point'))
  (type $color' (enum "red" "green" "dark-blue"))
  (export $color "color" (type $color'))
  (type $shape' (variant
    (case "circle" f32)
    (case "rect" (tuple u32 u32))
    (case "empty")))
  (export $shape "shape" (type $shape'))
  (type $perms' (flags "read" "write" "exec"))
  (export $perms "perms" (type $perms'))

  (func (export "scalars")
    (param "b" bool) (param "i8" s8) (param "u8" u8) (param "i16" s16) (param "u16" u16)
    (param "i32" s32) (param "u32" u32) (param "i64" s64) (param "u64" u64)
    (param "f32" float32) (param "f64" float64) (param "c" char) (param "s" string)
    (canon lift (core func $i "scalars") (memory (core memory $i "memory")) (realloc (core func $i "realloc"))))
  (func (export "lists")
    (param "bytes" (list u8)) (param "words" (list string))
    (param "pairs" (list (tuple string s32))) (param "nested" (list (list u16)))
    (canon lift (core func $i "lists") (memory (core memory $i "memory")) (realloc (core func $i "realloc"))))
  (func (export "record") (param "p" $point)
    (canon lift (core func $i "record") (memory (core memory $i "memory")) (realloc (core func $i "realloc"))))
  (func (export "choices")
    (param "color" $color) (param "shape" $shape) (param "perms" $perms)
    (param "outcome" (result string (error u8))) (param "maybe" (option (option s64)))
    (canon lift (core func $i "choices") (memory (core memory $i "memory")) (realloc (core func $i "realloc"))))
  (func (export "nested")
    (param "points" (list (option $point)))
    (param "mix" (tuple bool (list $color) (result (error string))))
    (canon lift (core func $i "nested") (memory (core memory $i "memory")) (realloc (core func $i "realloc"))))
  (func (export "wide")
    (param "numbers" (tuple u64 u64 u64 u64 u64 u64 u64 u64 u64)) (param "p" $point)
    (canon lift (core func $i "wide") (memory (core memory $i "memory")) (realloc (core func $i "realloc"))))
)
