//! The jute decoders: request frames of every opcode, the ConnectRequest
//! (with and without the readOnly byte), multi, and frame splitting.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| jute::fuzz::decode(data));
