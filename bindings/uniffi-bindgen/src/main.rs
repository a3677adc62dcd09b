//! `cargo run -p uniffi-bindgen -- generate <library> --language kotlin|swift --config uniffi.toml
//! --out-dir <dir>`: generates the foreign bindings from the built FFI library (library mode).
//! `cargo xtask bindings` runs it; it exists so the generator is always the same uniffi version
//! as the scaffolding compiled into the library.

fn main() {
    uniffi::uniffi_bindgen_main()
}
