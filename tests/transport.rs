//! Transport safety, over loopback only: certificates are always verified (no success and
//! no plaintext fallback against an untrusted server), plain `http://` is for loopback hosts
//! only, response bodies are size-limited however they are framed, and redirects are never
//! followed, so signed credentials never reach another listener.
//!
//! The 100 MB body with a `Content-Length` is `tests/client.rs`'s
//! `a_100_mb_response_is_refused_at_the_default_limit`; this file adds the framings without
//! one.
#![cfg(feature = "simulator")]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use wks_waiter::{
    defaults::DEFAULT_MAX_BODY_BYTES, error::TransportKind, test_util::virtual_time, Client,
    ClientBuilder, Credentials, Error, SubtaskQuery, WaitError, Waiter,
};

const JOB: &str = "job-1";
const PROJECT: &str = "0605767a3300d5762fb7c0186d9e1779";
const SK: &str = "transport-test-secret-key";
const SECURITY_TOKEN: &str = "transport-test-security-token";
const IAM_TOKEN: &str = "transport-test-iam-token";
/// Bounds every read of the test servers, so a client that misbehaves fails the test
/// instead of hanging it. Nothing waits for it to pass.
const GUARD: Duration = Duration::from_secs(10);

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn certificate() -> CertificateDer<'static> {
    CertificateDer::from_pem_file(fixture("localhost-cert.pem")).unwrap()
}

fn client(endpoint: &str, credentials: Credentials) -> Client {
    builder(endpoint).credentials(credentials).build().unwrap()
}

fn builder(endpoint: &str) -> ClientBuilder {
    Client::builder()
        .endpoint(endpoint)
        .project_id(PROJECT)
        .read_timeout(GUARD)
        .proxy_from_env(false)
}

fn temporary() -> Credentials {
    Credentials::temporary("AKTRANSPORT01", SK, SECURITY_TOKEN).unwrap()
}

fn iam() -> Credentials {
    Credentials::token(IAM_TOKEN).unwrap()
}

fn query() -> SubtaskQuery {
    SubtaskQuery::for_job(JOB).unwrap()
}

/// Reads one request head (through the blank line); empty if the peer closed first.
fn read_head(reader: &mut impl BufRead) -> io::Result<String> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(head);
        }
        head.push_str(&line);
        if line == "\r\n" || line == "\n" {
            return Ok(head);
        }
    }
}

/// A page of one subtask, for servers that would answer if asked in plaintext.
const PAGE: &str = r#"{"total_count":1,"jobs":[{"id":"s1","status":"SUCCESS","job_id":"job-1"}]}"#;

fn ok_response() -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{PAGE}",
        PAGE.len()
    )
}

/// What the TLS server saw of one connection.
#[derive(Debug)]
struct TlsSeen {
    handshake_completed: bool,
    /// Application data received: a request, had the handshake succeeded.
    plaintext: Vec<u8>,
}

/// A TLS server on `127.0.0.1:0` with the self-signed certificate for `localhost` (and
/// 127.0.0.1) of `tests/fixtures`. It answers a request with a page, if one ever arrives,
/// and records every connection until dropped.
struct TlsServer {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<TlsSeen>>>,
    thread: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl TlsServer {
    fn start() -> Self {
        let key = PrivateKeyDer::from_pem_file(fixture("localhost-key.pem")).unwrap();
        let config = Arc::new(
            rustls::ServerConfig::builder()
                .with_no_client_auth()
                .with_single_cert(vec![certificate()], key)
                .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (seen, stop) = (seen.clone(), stop.clone());
            thread::spawn(move || {
                for tcp in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(tcp) = tcp else { continue };
                    let connection = rustls::ServerConnection::new(config.clone()).unwrap();
                    let record = serve_tls(rustls::StreamOwned::new(connection, tcp));
                    seen.lock().unwrap().push(record);
                }
            })
        };
        Self {
            addr,
            seen,
            thread: Some(thread),
            stop,
        }
    }

    /// Stops the server and returns every connection it served: whether its handshake
    /// completed and the application data received.
    fn finish(mut self) -> Vec<(bool, Vec<u8>)> {
        self.stop_and_join();
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .map(|s| (s.handshake_completed, s.plaintext.clone()))
            .collect()
    }

    fn stop_and_join(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.stop.store(true, Ordering::SeqCst);
            let _ = TcpStream::connect(self.addr);
            thread.join().unwrap();
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        if !thread::panicking() {
            self.stop_and_join();
        }
    }
}

fn serve_tls(mut tls: rustls::StreamOwned<rustls::ServerConnection, TcpStream>) -> TlsSeen {
    tls.sock.set_read_timeout(Some(GUARD)).unwrap();
    let mut plaintext = Vec::new();
    let mut buf = [0; 4096];
    // Reading drives the handshake; it fails when the client rejects the certificate.
    while let Ok(n) = tls.read(&mut buf) {
        if n == 0 {
            break;
        }
        plaintext.extend_from_slice(&buf[..n]);
        if plaintext.windows(4).any(|w| w == b"\r\n\r\n") {
            let _ = tls.write_all(ok_response().as_bytes());
            tls.conn.send_close_notify();
            let _ = tls.flush();
            break;
        }
    }
    TlsSeen {
        handshake_completed: !tls.conn.is_handshaking(),
        plaintext,
    }
}

#[test]
fn the_tls_test_server_works_for_a_client_that_trusts_its_certificate() {
    // The control for the next test: the server is sound, so a client's failure against
    // it is certificate verification and nothing else.
    let server = TlsServer::start();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certificate()).unwrap();
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(server.addr).unwrap();
    tcp.set_read_timeout(Some(GUARD)).unwrap();
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response);
    let response = String::from_utf8(response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    drop(tls);
    let seen = server.finish();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].0, "handshake completed");
    assert!(seen[0].1.starts_with(b"GET / HTTP/1.1"), "{seen:?}");
}

/// Stops `server`, checks that no connection completed a handshake or carried a request,
/// and returns how many connections there were.
fn assert_no_request_was_sent(server: TlsServer, case: &str) -> usize {
    let seen = server.finish();
    for (handshake_completed, plaintext) in &seen {
        assert!(!handshake_completed, "{case}");
        assert!(
            plaintext.is_empty(),
            "{case}: a request was sent: {plaintext:?}"
        );
    }
    seen.len()
}

#[test]
fn an_untrusted_certificate_fails_before_any_request_is_sent() {
    for host in ["localhost", "127.0.0.1"] {
        for credentials in [temporary(), iam()] {
            let server = TlsServer::start();
            let endpoint = format!("https://{host}:{}", server.addr.port());
            let err = client(&endpoint, credentials)
                .list_subtasks(&query())
                .unwrap_err();
            assert!(
                matches!(err, Error::Transport { .. }),
                "{endpoint}: {err:?}"
            );
            let cause = std::error::Error::source(&err).unwrap().to_string();
            assert!(
                cause.contains("invalid peer certificate") && cause.contains("UnknownIssuer"),
                "{endpoint}: {cause}"
            );
            assert_eq!(assert_no_request_was_sent(server, &endpoint), 1);
        }
    }
}

#[test]
fn tls_failures_are_permanent_tls_errors() {
    let untrusted = TlsServer::start();
    let (plaintext_port, plaintext) = plaintext_server();
    for endpoint in [
        format!("https://localhost:{}", untrusted.addr.port()),
        format!("https://127.0.0.1:{plaintext_port}"),
    ] {
        let err = client(&endpoint, iam())
            .list_subtasks(&query())
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Transport {
                    kind: TransportKind::Tls,
                    ..
                }
            ),
            "{endpoint}: {err:?}"
        );
        assert!(!err.is_retryable(), "{endpoint}: {err}");
        assert!(err.to_string().contains("TLS"), "{endpoint}: {err}");
    }
    plaintext.join().unwrap();
}

/// Waits on a job behind the untrusted server, in virtual time.
fn wait_behind_untrusted_tls(
    server: &TlsServer,
) -> (WaitError, Arc<wks_waiter::test_util::ManualSleeper>) {
    let (clock, sleeper) = virtual_time();
    let waiter = Waiter::builder(client(
        &format!("https://localhost:{}", server.addr.port()),
        temporary(),
    ))
    .clock(clock)
    .sleeper(sleeper.clone())
    .build()
    .unwrap();
    (waiter.wait(JOB).unwrap_err(), sleeper)
}

#[test]
fn an_untrusted_certificate_never_lets_a_wait_succeed_or_send_a_request() {
    let server = TlsServer::start();
    let (err, _) = wait_behind_untrusted_tls(&server);
    let WaitError::Request { error, partial } = &err else {
        panic!("{err:?}");
    };
    assert!(matches!(error, Error::Transport { .. }), "{error:?}");
    assert!(partial.subtasks.is_empty());
    let requests = partial.requests as usize;
    assert_eq!(assert_no_request_was_sent(server, "wait"), requests);
}

#[test]
fn an_untrusted_certificate_ends_a_wait_at_once() {
    let server = TlsServer::start();
    let (err, sleeper) = wait_behind_untrusted_tls(&server);
    let WaitError::Request { error, partial } = &err else {
        panic!("{err:?}");
    };
    assert!(
        matches!(
            error,
            Error::Transport {
                kind: TransportKind::Tls,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(partial.requests, 1);
    assert!(
        sleeper.sleeps().is_empty(),
        "retried: {:?}",
        sleeper.sleeps()
    );
}

/// A plaintext HTTP server that would answer a plaintext request with a valid page.
/// Returns the first bytes it received.
fn plaintext_server() -> (u16, JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(GUARD)).unwrap();
        let mut first = [0; 512];
        let n = stream.read(&mut first).unwrap_or(0);
        let _ = stream.write_all(ok_response().as_bytes());
        first[..n].to_vec()
    });
    (port, server)
}

#[test]
fn an_https_endpoint_never_falls_back_to_plaintext() {
    let (port, server) = plaintext_server();
    let err = client(&format!("https://127.0.0.1:{port}"), iam())
        .list_subtasks(&query())
        .unwrap_err();
    assert!(
        matches!(err, Error::Transport { .. }),
        "a plaintext answer on https:// must fail: {err:?}"
    );
    let first = server.join().unwrap();
    // A TLS handshake record (0x16), not a request line; the token was never sent.
    assert_eq!(first.first(), Some(&0x16), "{first:?}");
    assert!(!first.windows(4).any(|w| w == b"GET "));
    assert!(!first
        .windows(IAM_TOKEN.len())
        .any(|w| w == IAM_TOKEN.as_bytes()));
}

#[test]
fn plain_http_is_refused_for_every_non_loopback_host() {
    for bad in [
        "http://example.com",
        "http://workspace.cn-north-4.myhuaweicloud.com",
        "http://10.0.0.1",
        "http://192.168.1.1:8080",
        "http://169.254.169.254",
        "http://0.0.0.0",
        "http://[::]",
        "http://[::2]",
        "http://[fe80::1]",
        "http://[::ffff:10.0.0.1]",
        "http://[::ffff:127.0.0.1]",
        "http://127.0.0.1.example.com",
        "http://127.0.0.1.nip.io:8080",
        "http://localhost.evil.com",
        "http://LOCALHOST.evil.com",
        "http://localhost.",
        "http://evil-localhost",
        "http://localhost-evil.com",
        "http://127.1",
        "http://2130706433",
        "http://0x7f000001",
        "http://0177.0.0.1",
        "http://localhost@evil.com",
        "http://127.0.0.1@evil.com",
        "http://evil.com#@127.0.0.1",
        "http://evil.com?127.0.0.1",
        "http://evil.com\\@127.0.0.1",
        "http://evil.com/127.0.0.1",
    ] {
        let result = builder(bad).credentials(iam()).build();
        let Err(err) = result else {
            panic!("{bad} was accepted");
        };
        assert!(
            matches!(&err, Error::InvalidConfig { field: "endpoint", value, .. } if value == bad),
            "{bad}: {err:?}"
        );
        assert!(err.to_string().contains(bad), "{err}");
    }
    // The same hosts are fine over https, and loopback is fine over http.
    for good in [
        "https://example.com",
        "https://127.0.0.1.example.com",
        "https://localhost.evil.com",
        "https://10.0.0.1:8443",
        "http://127.0.0.1:1",
        "http://127.255.255.254",
        "http://localhost",
        "http://LOCALHOST:8080",
        "http://[::1]:9",
        "http://[0:0:0:0:0:0:0:1]",
    ] {
        builder(good).credentials(iam()).build().unwrap();
    }
}

/// Answers one request with `status_line` and the `framing` header (no `Content-Length`),
/// then streams up to 100 MB of spaces in 64 KiB pieces until the client hangs up.
/// Returns the body bytes sent.
fn huge_body_server(
    status_line: &'static str,
    framing: &'static str,
) -> (String, JoinHandle<usize>) {
    const SIZE: usize = 100 * 1024 * 1024;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(GUARD)).unwrap();
        let _ = read_head(&mut BufReader::new(stream.try_clone().unwrap()));
        let head = format!(
            "{status_line}\r\nContent-Type: application/json\r\nX-Request-Id: huge-2\r\n{framing}\r\n"
        );
        stream.write_all(head.as_bytes()).unwrap();
        let chunked = framing.contains("chunked");
        let mut chunk = Vec::new();
        if chunked {
            chunk.extend_from_slice(b"10000\r\n");
        }
        chunk.extend_from_slice(&[b' '; 64 * 1024]);
        if chunked {
            chunk.extend_from_slice(b"\r\n");
        }
        let mut sent = 0;
        while sent < SIZE {
            if stream.write_all(&chunk).is_err() {
                break;
            }
            sent += 64 * 1024;
        }
        sent
    });
    (url, server)
}

#[test]
fn a_100_mb_body_without_a_length_is_refused_at_the_default_limit() {
    for (status_line, framing, status) in [
        ("HTTP/1.1 200 OK", "Connection: close\r\n", 200),
        ("HTTP/1.1 200 OK", "Transfer-Encoding: chunked\r\n", 200),
        (
            "HTTP/1.1 503 Service Unavailable",
            "Transfer-Encoding: chunked\r\n",
            503,
        ),
    ] {
        let (url, server) = huge_body_server(status_line, framing);
        let client = client(&url, iam());
        let err = client.list_subtasks(&query()).unwrap_err();
        assert!(
            matches!(
                &err,
                Error::ResponseTooLarge { limit, status: s, .. }
                    if *limit == DEFAULT_MAX_BODY_BYTES && *s == status
            ),
            "{framing}: {err:?}"
        );
        assert_eq!(err.request_id(), Some("huge-2"));
        drop(client);
        let sent = server.join().unwrap();
        assert!(
            sent < 100 * 1024 * 1024,
            "{framing}: the client read everything"
        );
    }
}

/// A listener that must never be contacted; checked without waiting, since the client's
/// call has returned by the time it is asked.
struct Bystander {
    listener: TcpListener,
    url: String,
}

impl Bystander {
    fn new(host: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!(
            "http://{host}:{}/v2/{PROJECT}/workspace-sub-jobs?job_id={JOB}",
            listener.local_addr().unwrap().port()
        );
        Self { listener, url }
    }

    /// A request head, if anyone connected.
    fn contacted(&self) -> Option<String> {
        match self.listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                stream.set_read_timeout(Some(GUARD)).unwrap();
                Some(read_head(&mut BufReader::new(stream)).unwrap_or_default())
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => None,
            Err(error) => panic!("{error}"),
        }
    }
}

/// Answers every request with `status` and `Location: location`, until dropped; returns the
/// request heads it received.
struct Redirector {
    url: String,
    heads: Arc<Mutex<Vec<String>>>,
    stop: Option<(SocketAddr, JoinHandle<()>)>,
}

impl Redirector {
    fn new(status: u16, location: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let response = format!(
            "HTTP/1.1 {status} Redirect\r\nLocation: {location}\r\nX-Request-Id: redirect-{status}\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let seen = heads.clone();
        let thread = thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                stream.set_read_timeout(Some(GUARD)).unwrap();
                let head =
                    read_head(&mut BufReader::new(stream.try_clone().unwrap())).unwrap_or_default();
                if head.starts_with("STOP") {
                    return;
                }
                seen.lock().unwrap().push(head);
                let _ = stream.write_all(response.as_bytes());
            }
        });
        Self {
            url: format!("http://{addr}"),
            heads,
            stop: Some((addr, thread)),
        }
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

impl Drop for Redirector {
    fn drop(&mut self) {
        if let Some((addr, thread)) = self.stop.take() {
            if let Ok(mut stream) = TcpStream::connect(addr) {
                let _ = stream.write_all(b"STOP\r\n\r\n");
            }
            let _ = thread.join();
        }
    }
}

fn has_header(head: &str, name: &str) -> bool {
    head.lines()
        .any(|line| line.to_ascii_lowercase().starts_with(&format!("{name}:")))
}

#[test]
fn redirects_are_reported_not_followed() {
    for status in [301, 302, 303, 307, 308] {
        for host in ["127.0.0.1", "localhost"] {
            for (credentials, headers) in [
                (temporary(), &["authorization", "x-security-token"][..]),
                (iam(), &["x-auth-token"][..]),
            ] {
                let bystander = Bystander::new(host);
                let redirector = Redirector::new(status, &bystander.url);
                let err = client(&redirector.url, credentials)
                    .list_subtasks(&query())
                    .unwrap_err();
                let case = format!("{status} to {}", bystander.url);
                assert_eq!(err.status(), Some(status), "{case}: {err:?}");
                assert_eq!(
                    err.request_id(),
                    Some(format!("redirect-{status}").as_str())
                );
                assert!(!err.is_retryable(), "{case}");
                // The credentials went to the endpoint, and nothing went to the bystander.
                let heads = redirector.heads();
                assert_eq!(heads.len(), 1, "{case}: {heads:?}");
                for name in headers {
                    assert!(
                        has_header(&heads[0], name),
                        "{case}: {name} in {}",
                        heads[0]
                    );
                }
                assert_eq!(bystander.contacted(), None, "{case}");
            }
        }
    }
}

#[test]
fn a_redirect_ends_a_wait_after_one_request() {
    let bystander = Bystander::new("127.0.0.1");
    let redirector = Redirector::new(307, &bystander.url);
    let (clock, sleeper) = virtual_time();
    let err = Waiter::builder(client(&redirector.url, temporary()))
        .clock(clock)
        .sleeper(sleeper.clone())
        .request_timeout(Duration::from_secs(60))
        .build()
        .unwrap()
        .wait(JOB)
        .unwrap_err();
    let WaitError::Request { error, partial } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(error.status(), Some(307));
    assert_eq!(partial.requests, 1);
    assert!(sleeper.sleeps().is_empty());
    assert_eq!(redirector.heads().len(), 1);
    assert_eq!(bystander.contacted(), None);
}
