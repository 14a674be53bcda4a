//! Backends that misbehave below HTTP, on loopback: one that accepts connections and never reads or answers (a
//! black hole), and one that starts an answer and resets the connection in the middle of it.

#![allow(dead_code, reason = "each test binary uses part of it")]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// How the backend misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misbehaviour {
    /// Accepts, then never reads nor answers; the connections stay open.
    BlackHole,
    /// Reads the request's head, answers `200` with a `Content-Length` it never delivers, and closes with the body
    /// unread, so the kernel resets the connection.
    ResetMidAnswer,
}

/// The backend; stops when dropped.
pub struct RawBackend {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RawBackend {
    pub fn start(misbehaviour: Misbehaviour) -> RawBackend {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (stopped, count) = (Arc::clone(&stop), Arc::clone(&accepted));
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        count.fetch_add(1, Ordering::Relaxed);
                        match misbehaviour {
                            Misbehaviour::BlackHole => held.push(stream),
                            Misbehaviour::ResetMidAnswer => {
                                std::thread::spawn(move || reset_mid_answer(stream));
                            }
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        RawBackend { addr, stop, accepted, thread: Some(thread) }
    }

    /// `http://127.0.0.1:port`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for RawBackend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn reset_mid_answer(mut stream: TcpStream) {
    stream.set_nonblocking(false).unwrap_or_default();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap_or_default();
    // The head, a byte at a time: the body stays unread.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    // Let the body arrive, so that it is there, unread, when the socket closes.
    std::thread::sleep(Duration::from_millis(20));
    let partial = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 1000\r\n\r\n\x0a\x00";
    let _ = stream.write_all(partial);
    let _ = stream.flush();
}
