//! The server's connection loop: hyper's HTTP/1 connections with upgrades (WebSockets), a
//! deadline for request headers and a graceful shutdown.

use axum::Router;
use std::time::Duration;

/// How long a client has to send a request's headers, or to start its next request on a
/// kept-alive connection (hyper's default, which hyper applies only with a timer).
pub const HEADER_DEADLINE: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` until `shutdown` completes, then lets every connection finish
/// the request it is answering, as `axum::serve` does, with one thing it lacks: a deadline
/// for headers (`HEADER_DEADLINE`). Without it a client sending its headers a line at a time
/// holds its connection for ever, and a few hundred such clients every file descriptor of
/// the process: no request could be accepted any more.
///
/// Small writes go out at once (`TCP_NODELAY`): a subscription's events are small WebSocket
/// frames, and Nagle's algorithm would hold one back until the previous one is acknowledged,
/// which a peer delaying its ACKs makes up to 40 ms on Linux.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()>,
) {
    serve_with_deadline(listener, app, shutdown, HEADER_DEADLINE).await;
}

async fn serve_with_deadline(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()>,
    header_deadline: Duration,
) {
    // `stop` tells the connections to finish; each holds a `done` until it has.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (done_tx, done_rx) = tokio::sync::watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of file descriptors, say: wait rather than spin, as axum does.
                    tracing::error!(error = %e, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        send_small_writes_at_once(&tcp);
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let (mut stop, done) = (stop_rx.clone(), done_rx.clone());
        tokio::spawn(async move {
            let mut http1 = hyper::server::conn::http1::Builder::new();
            http1
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(header_deadline);
            let connection = http1
                .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                .with_upgrades();
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(e) = served {
                        tracing::debug!(error = %e, "connection ended");
                    }
                }
                () = async { let _ = stop.wait_for(|stop| *stop).await; } => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(done);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(done_rx);
    done_tx.closed().await;
}

fn send_small_writes_at_once(tcp: &tokio::net::TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::warn!(error = %e, "could not set TCP_NODELAY");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use axum::Router;

    #[tokio::test]
    async fn accepted_connections_send_small_writes_at_once() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (server_side, _) = listener.accept().await.unwrap();
        send_small_writes_at_once(&server_side);
        assert!(server_side.nodelay().unwrap());
    }

    /// A client sending its headers a line at a time (slowloris) loses its connection at the
    /// deadline, while a prompt one on the same server is answered, before and after.
    #[tokio::test]
    async fn headers_sent_too_slowly_lose_the_connection() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/healthz", get(|| async { "ok" }));
        let deadline = Duration::from_millis(300);
        tokio::spawn(serve_with_deadline(
            listener,
            app,
            std::future::pending(),
            deadline,
        ));
        let get_healthz = || async move {
            let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
            c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut answer = String::new();
            c.read_to_string(&mut answer).await.unwrap();
            answer
        };
        assert!(get_healthz().await.starts_with("HTTP/1.1 200"));
        let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
        let started = std::time::Instant::now();
        let mut cut = false;
        // A header line every 100 ms: never the end of the headers. (Ten seconds is a guard
        // against hanging, not a measure.)
        while started.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if slow.write_all(b"X-Slow: 1\r\n").await.is_err() {
                cut = true;
                break;
            }
            let mut byte = [0u8; 1];
            match tokio::time::timeout(Duration::from_millis(1), slow.read(&mut byte)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    cut = true;
                    break;
                }
                _ => {}
            }
        }
        assert!(cut, "a slow client kept its connection");
        assert!(started.elapsed() >= deadline);
        assert!(get_healthz().await.starts_with("HTTP/1.1 200"));
    }
}
