//! Answers HTTP on $PORT with a number formatted by the `itoa` crate (from crates.io, pinned by Cargo.lock).
use std::io::{Read, Write};
use std::net::TcpListener;

fn main() {
    let host = std::env::var("HOST").unwrap_or_else(|_| "0.0.0.0".into());
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".into());
    let listener = TcpListener::bind(format!("{host}:{port}")).expect("bind");
    let mut buf = itoa::Buffer::new();
    let answer = buf.format(42u32).to_string();
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let mut request = [0u8; 1024];
        let _ = stream.read(&mut request);
        let body = format!("Hello from rust-hello: {answer}\n");
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
    }
}
