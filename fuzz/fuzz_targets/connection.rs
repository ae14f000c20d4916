//! The server side of a connection fed an arbitrary client byte stream:
//! framing, four-letter words, handshake, request decoding and dispatch.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| zoe::fuzz::connection(data));
