//! Docker Engine API: `GET /version` answered without TLS client certificates or a proxy in
//! front means anyone who can reach the port controls the host.

use std::net::SocketAddr;

use crate::checks::{ask, finding, http_get, http_status_body};
use crate::engine::Options;
use crate::report::{ServiceReport, Severity};

pub async fn check(addr: SocketAddr, opts: &Options, r: &mut ServiceReport) {
    let Some(b) = ask(addr, opts, &http_get(addr, "/version"), |_| false).await else {
        return;
    };
    let Some((status, body)) = http_status_body(&b) else {
        return;
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return;
    };
    if status == 200 && v.get("ApiVersion").is_some() {
        if let Some(ver) = v["Version"].as_str().filter(|s| s.len() < 40) {
            r.version = Some(ver.to_string());
        }
        let ev = format!(
            "GET /version -> 200, Docker {} API {} on {}",
            v["Version"].as_str().unwrap_or("?"),
            v["ApiVersion"].as_str().unwrap_or("?"),
            v["Os"].as_str().unwrap_or("?")
        );
        r.findings.push(finding(
            "docker-api-no-auth",
            Severity::Critical,
            "Docker Engine API answers without authentication (host takeover)",
            ev.as_bytes(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testutil::{fake, opts};
    use portolan_registry::Protocol;

    #[tokio::test]
    async fn open_docker_api_is_flagged() {
        let addr = fake(b"", |req| {
            let body = if req.starts_with(b"GET /version ") {
                r#"{"Version":"24.0.7","ApiVersion":"1.43","Os":"linux"}"#
            } else {
                r#"{"message":"page not found"}"#
            };
            Some(
                format!("HTTP/1.1 200 OK\r\nServer: Docker/24.0.7 (linux)\r\n\r\n{body}")
                    .into_bytes(),
            )
        })
        .await;
        let mut r = ServiceReport::new(addr, Protocol::Tcp);
        check(addr, &opts(), &mut r).await;
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].id, "docker-api-no-auth");
        assert_eq!(r.version.as_deref(), Some("24.0.7"));
    }

    #[tokio::test]
    async fn plain_http_is_not_docker() {
        let addr = fake(b"", |_| {
            Some(b"HTTP/1.1 404 Not Found\r\n\r\nnope".to_vec())
        })
        .await;
        let mut r = ServiceReport::new(addr, Protocol::Tcp);
        check(addr, &opts(), &mut r).await;
        assert!(r.findings.is_empty());
    }
}
